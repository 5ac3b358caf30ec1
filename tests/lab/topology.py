"""The lab network: a collector, a delaying router, a second router, and target hosts.

    collector ──── r1 (TUN delayer) ──── targets    1-hop targets 10.77.1.x, dead 10.77.4.x
                    │  └──────────── noicmp         ICMP echo ignored, 10.77.3.x
                    └── r2 ──────────── targets     2-hop targets 10.77.2.x (and moved 10.77.1.x)

All traffic forwarded by r1 crosses its TUN device, where delayer.py holds each packet for the
delay configured for its destination address (the injected ground truth), timed from when the
kernel queued it. Replies pass the TUN undelayed, so a target's RTT is its delay plus the lab's
overhead: the delayer's 0.5 ms base hold and two TUN crossings (~0.15 ms), measured on a 0 ms
target with `Lab.overhead_ms` or, under the same load as a round, `Lab.measuring`, which also
reads back the delay each exchange really got (tests/lab/applied.py): the truth to compare with.
Every target host listens on TCP LAB_PORT. Addresses stay inside 10.77.0.0/16, inside the lab.
"""
from __future__ import annotations

import json
import math
import shutil
import signal
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import need, need_root, need_tool
from tests.lab.applied import Applied, read_applied
from tests.lab.netns import Netns, veth

LAB_PORT = 443
TUN = "ntdelay"
DELAY_TABLE = "77"
DELAYER = Path(__file__).with_name("delayer.py")
YARDSTICK = Path(__file__).with_name("measure.py")
SUBNETS = {"up": "10.77.1", "two_hop": "10.77.2", "no_icmp": "10.77.3", "dead": "10.77.4",
           "collector": "10.77.0"}  # collector: index 1 is its own address (rules on replies)
LISTENER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(4096); print("ready", flush=True)
while True:
    s.accept()[0].close()
"""


def need_lab() -> None:
    """Skip (fail under CI) unless the lab can be built: root, iproute2, sysctl, a TUN device."""
    need_root()
    need_tool("ip", "iproute2")
    need_tool("sysctl", "procps")
    need(Path("/dev/net/tun").exists(), "needs /dev/net/tun (the lab's delayer is a TUN device)")


@dataclass(frozen=True, slots=True)
class LabTarget:
    """One lab host: kind is "up", "two_hop", "no_icmp" (drops ICMP echo) or "dead"; or
    "collector" index 1, the collector itself, whose rule applies to the replies it gets."""

    index: int  # 1..250, the last octet of its address
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_ratio: float = 0.0
    kind: str = "up"
    drop_first: int = 0  # packets dropped per protocol after the rule is (re)loaded

    @property
    def address(self) -> str:
        return f"{SUBNETS[self.kind]}.{self.index}"


@dataclass(slots=True)
class LabTruth:
    """What a `Lab.measuring` block measured, filled when it ends (so not frozen): the TUN's
    cost per probe kind ("icmp", "tcp") and the delay the lab really applied."""

    overhead_ms: dict[str, float] = field(default_factory=dict)
    applied: Applied = field(default_factory=lambda: Applied({}))

    def error_ms(self, record: dict, address: str) -> float:
        """A collector record's median less the overhead and the median delay the lab applied
        to that target's exchanges of the probe; NaN for a failed probe or no exchange."""
        applied_ms = self.applied.median_ms(address, record["probe"])
        if not record["ok"] or applied_ms is None:
            return math.nan
        return record["rtt_ms"] - self.overhead_ms[record["probe"]] - applied_ms


class Lab:
    """Builds the topology for a list of LabTargets; a context manager that tears it all down."""

    def __init__(self, targets: list[LabTarget]):
        self.targets = targets
        self.workdir = Path(tempfile.mkdtemp(prefix="ntlab-"))
        self.config_path = self.workdir / "delays.json"
        self.record_path = self.workdir / "applied.json"
        self._namespaces: list[Netns] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for ns in reversed(self._namespaces):
            ns.close()
        shutil.rmtree(self.workdir, ignore_errors=True)  # catalogs and delays of this lab only

    def _ns(self, role: str) -> Netns:
        ns = Netns(role)
        self._namespaces.append(ns)
        return ns

    def _build(self) -> None:
        c, r1, r2 = self._ns("collector"), self._ns("r1"), self._ns("r2")
        t, noicmp = self._ns("targets"), self._ns("noicmp")
        self.collector, self.r1, self.r2, self.hosts, self.noicmp = c, r1, r2, t, noicmp
        veth(c, r1, "10.77.0.1/30", "10.77.0.2/30")
        veth(r1, t, "10.77.0.5/30", "10.77.0.6/30")
        veth(r1, r2, "10.77.0.9/30", "10.77.0.10/30")
        veth(r2, t, "10.77.0.13/30", "10.77.0.14/30")
        veth(r1, noicmp, "10.77.0.17/30", "10.77.0.18/30")
        for router in (r1, r2):
            router.enable_routing()
            # Real routers rate-limit ICMP errors; the lab's must not, or a parallel trace of
            # many targets sees r1 as silent ('*') by chance and hop checks get flaky.
            router.sysctl("net.ipv4.icmp_ratelimit", 0)
            router.sysctl("net.ipv4.icmp_msgs_per_sec", 100000)
        for ns in (c, t, noicmp):
            ns.disable_rp_filter()
        c.route("default", "via", "10.77.0.2")
        t.route("default", "via", "10.77.0.5")
        noicmp.route("default", "via", "10.77.0.17")
        noicmp.sysctl("net.ipv4.icmp_echo_ignore_all", 1)
        r1.route(f"{SUBNETS['up']}.0/24", "via", "10.77.0.6")
        r1.route(f"{SUBNETS['dead']}.0/24", "via", "10.77.0.6")  # routed; nobody holds them
        r1.route(f"{SUBNETS['two_hop']}.0/24", "via", "10.77.0.10")
        r1.route(f"{SUBNETS['no_icmp']}.0/24", "via", "10.77.0.18")
        r2.route("default", "via", "10.77.0.9")
        for kind in ("up", "two_hop"):
            r2.route(f"{SUBNETS[kind]}.0/24", "via", "10.77.0.14")
        self._add_addresses(t, [x for x in self.targets if x.kind in ("up", "two_hop")])
        self._add_addresses(noicmp, [x for x in self.targets if x.kind == "no_icmp"])
        for ns in (t, noicmp):
            _wait_ready(ns.popen([sys.executable, "-c", LISTENER, str(LAB_PORT)], stdout=-1, text=True))
        self._start_delayer()

    def _add_addresses(self, ns: Netns, targets: list[LabTarget]) -> None:
        batch = "".join(f"addr add {x.address}/32 dev lo\n" for x in targets)
        ns.run(["ip", "-batch", "-"], input=batch)

    def _start_delayer(self) -> None:
        self.write_delays(self.targets)
        r1 = self.r1
        self.delayer = r1.popen([sys.executable, str(DELAYER), TUN, str(self.config_path),
                                 str(self.record_path)], stdout=-1, text=True)
        _wait_ready(self.delayer)
        r1.link_set(TUN, up=True)
        r1.disable_rp_filter()
        r1.route("default", "dev", TUN, "table", DELAY_TABLE)
        for ifname in r1.interfaces():
            if ifname not in ("lo", TUN):
                r1.run(["ip", "rule", "add", "iif", ifname, "lookup", DELAY_TABLE])

    def write_delays(self, targets: list[LabTarget]) -> None:
        """Write the delayer's config (the injected truth); a running delayer re-reads it on
        SIGHUP (`reload_delays`)."""
        config = {x.address: {"delay_ms": x.delay_ms, "jitter_ms": x.jitter_ms,
                              "loss_ratio": x.loss_ratio, "drop_first": x.drop_first}
                  for x in targets}
        self.config_path.write_text(json.dumps(config))

    def reload_delays(self, targets: list[LabTarget]) -> None:
        """Apply new rules to the running delayer; returns once it has them (it records what
        it did so far, which also shows it handled the signal)."""
        self.write_delays(targets)
        self.delayer.send_signal(signal.SIGHUP)
        self.record_applied()

    def yardstick_ms(self, kind: str, target: LabTarget, count: int) -> list[float | None]:
        """The lab's own sequential icmp or tcp RTTs to target (measure.py), None = lost."""
        return self._yardstick(kind, target.address, str(count), str(LAB_PORT))

    def responder(self, target: LabTarget, ttl: int) -> dict | None:
        """Who answers an echo to target sent with this TTL (measure.py hop)."""
        return self._yardstick("hop", target.address, str(ttl))

    def _yardstick(self, *args: str):
        return json.loads(self.collector.run([sys.executable, str(YARDSTICK), *args]).stdout)

    def overhead_ms(self, kind: str, zero_delay: LabTarget, count: int = 40) -> float:
        """The TUN's own round-trip cost: the median yardstick RTT to a zero-delay target."""
        assert zero_delay.delay_ms == 0 and zero_delay.kind == "up"
        return _median(self.yardstick_ms(kind, zero_delay, count))

    @contextmanager
    def measuring(self, zero_delay: LabTarget, count: int = 300) -> Iterator[LabTruth]:
        """Measure the lab while the body runs. The TUN's cost: the delayer wakes faster when
        it is busy, so the overhead of a loaded round differs from an idle one by ~0.1 ms (the
        median icmp and tcp yardstick RTTs to zero_delay, count ~10 ms apart, less the median
        delay the delayer applied to them, 0 when on time). And the delays applied to the
        exchanges the body caused. Yields a LabTruth filled on exit."""
        assert zero_delay.delay_ms == 0 and zero_delay.kind == "up"
        self.record_applied()  # forget the traffic before the block
        procs = {kind: self.collector.popen([sys.executable, str(YARDSTICK), kind, zero_delay.address,
                                             str(count), str(LAB_PORT)], stdout=-1, text=True)
                 for kind in ("icmp", "tcp")}
        truth = LabTruth()
        yield truth
        truth.applied = self.record_applied()
        for kind, proc in procs.items():
            # less what the late delayer added to the yardstick's own exchanges, if anything
            late_ms = truth.applied.median_ms(zero_delay.address, kind)
            truth.overhead_ms[kind] = _median(json.loads(proc.communicate(timeout=60)[0])) - late_ms

    def record_applied(self) -> Applied:
        """The delays applied since the last call (the delayer's record, read and forgotten)."""
        self.delayer.send_signal(signal.SIGUSR1)
        line = self.delayer.stdout.readline()
        if line.strip() != "recorded":
            raise RuntimeError(f"the delayer did not write its record: {line!r}")
        return read_applied(self.record_path)

    def move_to_two_hops(self, target: LabTarget) -> None:
        """Reroute one 1-hop target through r2, live."""
        self.r1.route(f"{target.address}/32", "via", "10.77.0.10")

    def move_to_one_hop(self, target: LabTarget) -> None:
        self.r1.run(["ip", "route", "del", f"{target.address}/32"], check=False)


def _median(rtts: list[float | None]) -> float:
    return statistics.median(r for r in rtts if r is not None)


def _wait_ready(proc) -> None:
    line = proc.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"lab process failed to start: {proc.args}")

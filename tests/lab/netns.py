"""Network namespaces for tests: create, run commands inside, join with veth pairs, tear down.

Every namespace this module makes is named `ntlab-<pid>-<role>`, so parallel test runs never
collide, and a run that died without cleaning up is swept by the next one (its pid is gone).
Cleanup never leaves namespaces behind: `Netns.close()` kills the processes started inside,
then deletes the namespace; an atexit hook closes whatever a crashed test left open.

    with Netns("collector") as c, Netns("server") as s:
        veth(c, s, "10.77.0.1/30", "10.77.0.2/30")
        srv = s.popen([sys.executable, "-m", "http.server", "--bind", "10.77.0.2", "8080"])
        c.run(["curl", "http://10.77.0.2:8080/"])
        s.link_set(s.ifname_to(c), up=False)   # pause the network
        s.link_set(s.ifname_to(c), up=True)

Needs root. Addresses must stay in a private range owned by the test (we use 10.77.0.0/16).
"""
from __future__ import annotations

import atexit
import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

PREFIX = "ntlab"
NETNS_DIR = Path("/run/netns")
_open: dict[str, "Netns"] = {}
_veth_ids = itertools.count()


class Netns:
    """One named network namespace with loopback up; a context manager that deletes it on exit.

    role: a short word (letters/digits) naming the namespace's part in the lab; the full name
    is `ntlab-<pid>-<role>`. Raises ValueError for a role already open in this process, and
    subprocess.CalledProcessError when `ip` fails (not root, no netns support).
    """

    def __init__(self, role: str):
        if not role.replace("_", "").isalnum():
            raise ValueError(f"netns role must be alphanumeric, got {role!r}")
        self.role = role
        self.name = f"{PREFIX}-{os.getpid()}-{role}"
        if self.name in _open:
            raise ValueError(f"netns {self.name} is already open")
        self._procs: list[subprocess.Popen] = []
        self._peers: dict[str, str] = {}  # peer netns name -> our interface facing it
        _sweep_stale()
        _ip("netns", "add", self.name)
        _open[self.name] = self
        self.run(["ip", "link", "set", "lo", "up"])

    def __enter__(self) -> "Netns":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def argv(self, cmd: list[str]) -> list[str]:
        """The argv that runs cmd inside this namespace."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def run(self, cmd: list[str], check: bool = True, timeout_s: float = 60,
            **kw) -> subprocess.CompletedProcess:
        """Run cmd inside the namespace to completion; text output captured unless overridden."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.argv(cmd), check=check, timeout=timeout_s, **kw)

    def popen(self, cmd: list[str], **kw) -> subprocess.Popen:
        """Start cmd inside the namespace in the background; it is killed by close()."""
        proc = subprocess.Popen(self.argv(cmd), **kw)
        self._procs.append(proc)
        return proc

    def exec_python(self, code: str, *args: str, **kw) -> subprocess.CompletedProcess:
        """Run a Python snippet (`python -c code args...`) inside the namespace to completion."""
        return self.run([sys.executable, "-c", code, *args], **kw)

    def sysctl(self, key: str, value: str | int) -> None:
        self.run(["sysctl", "-q", "-w", f"{key}={value}"])

    def enable_routing(self) -> None:
        """Forward IPv4, with reverse-path filtering off."""
        self.sysctl("net.ipv4.ip_forward", 1)
        self.disable_rp_filter()

    def disable_rp_filter(self) -> None:
        """Switch reverse-path filtering off on every interface (present and future), so
        asymmetric lab routes and the TUN delayer's re-injected packets pass."""
        for iface in ["all", "default", *self.interfaces()]:
            self.sysctl(f"net.ipv4.conf.{iface}.rp_filter", 0)

    def interfaces(self) -> list[str]:
        out = self.run(["ip", "-o", "link", "show"]).stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]

    def ifname_to(self, peer: "Netns") -> str:
        """Our interface on the veth pair that joins us to peer (KeyError if none)."""
        return self._peers[peer.name]

    def link_set(self, ifname: str, up: bool) -> None:
        """Bring an interface up or down: down 'pauses the network' over that link."""
        self.run(["ip", "link", "set", ifname, "up" if up else "down"])

    def route(self, *args: str) -> None:
        """`ip route replace ARGS` inside the namespace (replace: idempotent, and moves live)."""
        self.run(["ip", "route", "replace", *args])

    def close(self) -> None:
        """Kill the processes started inside (ours, by pid), then delete the namespace."""
        if _open.pop(self.name, None) is None:
            return
        for proc in self._procs:
            _stop(proc)
        for pid in _pids_in(self.name):  # children our processes left behind in this netns
            _kill(pid)
        _ip("netns", "del", self.name, check=False)


def veth(a: Netns, b: Netns, addr_a: str, addr_b: str) -> tuple[str, str]:
    """Join a and b with a veth pair, address both ends (CIDR, e.g. "10.77.0.1/30"), bring
    them up; returns the interface names (in a, in b). Deleting either namespace removes it."""
    n = next(_veth_ids)
    if_a, if_b = f"v{os.getpid() % 100000}{n}a", f"v{os.getpid() % 100000}{n}b"
    _ip("link", "add", if_a, "netns", a.name, "type", "veth", "peer", "name", if_b, "netns", b.name)
    for ns, ifname, addr in ((a, if_a, addr_a), (b, if_b, addr_b)):
        ns.run(["ip", "addr", "add", addr, "dev", ifname])
        ns.link_set(ifname, up=True)
    a._peers[b.name], b._peers[a.name] = if_a, if_b
    return if_a, if_b


def close_all() -> None:
    """Close every namespace this process still holds (atexit, and fixture teardown)."""
    for ns in list(_open.values()):
        ns.close()


def _sweep_stale() -> None:
    """Delete lab namespaces left by test processes that died (their pid no longer exists)."""
    if not NETNS_DIR.is_dir():
        return
    for path in NETNS_DIR.iterdir():
        parts = path.name.split("-")
        if len(parts) < 3 or parts[0] != PREFIX or not parts[1].isdigit():
            continue
        if int(parts[1]) != os.getpid() and not Path(f"/proc/{parts[1]}").exists():
            for pid in _pids_in(path.name):
                _kill(pid)
            _ip("netns", "del", path.name, check=False)


def _pids_in(name: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


atexit.register(close_all)

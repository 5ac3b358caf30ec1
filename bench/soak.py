"""Soak with faults: 7 regions push for at least 100 rounds (time compressed: a round every
2 s) while, at random, the ingest writer, the ingest server and a collector are killed -9,
the link between collectors and central pauses, and central's disk (a small tmpfs) fills up.
Prints results sent, stored, duplicated and lost (both must be 0) and the longest time the
site was stale (the age of the newest stored round). Root: network namespaces and a tmpfs;
all traffic stays inside them.

    .venv/bin/python bench/soak.py                    # 100 rounds, seed 1
    .venv/bin/python bench/soak.py --rounds 30 --seed 7
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collect import spool  # noqa: E402
from tests.ingest.ingest_fixtures import (REGIONS, Server, fill_volume, launch, secret,  # noqa: E402
                                          tmpfs, writer_pid)
from tests.lab.netns import Netns, veth  # noqa: E402

EVERY_S = 2
COLLECTOR_IP, CENTRAL_IP = "10.77.210.1", "10.77.210.2"
CENTRAL = f"{CENTRAL_IP}:8470"
OPEN_PORT = 7000
TARGETS = tuple(f"127.0.0.{i}" for i in range(1, 11))  # in the collectors' namespace
PROBES = ("tcp", "icmp")
VOLUME_BYTES = 64 * 1024 * 1024
MIN_FREE_BYTES = 4 * 1024 * 1024
FAULTS = ("kill writer", "kill server", "kill collector", "pause link", "disk full",
          "disk nearly full")
SAMPLE_S = 0.25
DRAIN_TIMEOUT_S = 120.0
ROUND_LOG = re.compile(r"round (\d+): (\d+) results spooled")
PUSHED_LOG = re.compile(r"pushed round (\d+): stored (\d+), duplicates (\d+)")
FAILED_LOG = re.compile(r"push of \d+ results failed \((HTTP (\d{3})|[A-Za-z]+)")


def catalog_text() -> str:
    regions = "".join(f'\n[regions.{r}]\ncity = "{r}"\nnote = "soak collector"\nlat = 0.0\n'
                      f"lon = 0.0\n" for r in REGIONS)
    targets = "".join(f'\n[[targets]]\nhost = "{h}"\nname = "soak {h}"\ncategory = "Lab"\n'
                      f'port = {OPEN_PORT}\nprobes = ["tcp", "icmp"]\n' for h in TARGETS)
    return 'categories = ["Lab"]\n' + regions + targets


@dataclass
class Staleness:
    """Ages of the newest stored round (whole site, and per region), sampled every SAMPLE_S."""
    site: list[tuple[float, float]] = field(default_factory=list)  # (unix s, age s)
    worst_region_s: float = 0.0


class Soak:
    def __init__(self, work: Path, vol: Path, collectors_ns: Netns, central_ns: Netns,
                 rng: random.Random):
        self.work, self.vol, self.c, self.s, self.rng = work, vol, collectors_ns, central_ns, rng
        self.db = vol / "central.db"
        self.catalog = work / "targets.toml"
        self.catalog.write_text(catalog_text())
        self.server: Server | None = None
        self.collectors: dict[str, subprocess.Popen] = {}
        self.faults: Counter = Counter()
        self.timeline: list[tuple[float, float, str]] = []  # (start, end unix s, fault)
        self.stale = Staleness()

    # processes
    def start_server(self) -> None:
        self.server = launch(self.db, "--min-free-bytes", str(MIN_FREE_BYTES), listen=CENTRAL,
                             netns=self.s.name, log=self.work / "ingest.log")

    def start_collector(self, region: str) -> None:
        env = dict(os.environ, NETTRACE_PUSH_SECRET=secret(region).decode())
        with open(self.log(region), "a") as log:
            self.collectors[region] = self.c.popen(
                [sys.executable, "-m", "nettrace", "collect", "--targets", str(self.catalog),
                 "--region", region, "--every", f"{EVERY_S}s", "--push", f"http://{CENTRAL}",
                 "--spool", str(self.spool(region)), "--samples", "2", "--interval", "0.05",
                 "--timeout", "0.5"], env=env, stdout=log, stderr=log)

    def log(self, region: str) -> Path:
        return self.work / f"collector-{region}.log"

    def spool(self, region: str) -> Path:
        return self.work / f"spool-{region}"

    # faults: each does its harm, waits a few rounds, and repairs what it broke
    def fault(self, kind: str) -> None:
        started = time.time()
        self.harm_and_repair(kind)
        self.faults[kind] += 1
        self.timeline.append((started, time.time(), kind))

    def harm_and_repair(self, kind: str) -> None:
        hold_s = self.rng.uniform(1.5, 4) * EVERY_S
        if kind == "kill writer":
            pid = self.writer()
            self.into_slot(0.02, 0.2)  # when the round's pushes arrive
            os.kill(pid, signal.SIGKILL)
        elif kind == "kill server":
            self.into_slot(0.02, 0.2)
            self.server.proc.send_signal(signal.SIGKILL)
            self.server.proc.wait()
            time.sleep(hold_s)
            self.start_server()
        elif kind == "kill collector":
            region = self.rng.choice(REGIONS)
            self.into_slot(0.0, 0.5)  # mid-round, or while it spools
            self.collectors[region].send_signal(signal.SIGKILL)
            self.collectors[region].wait()
            time.sleep(self.rng.uniform(0, 1.5) * EVERY_S)
            self.start_collector(region)
        elif kind == "pause link":
            self.s.link_set(self.s.ifname_to(self.c), up=False)
            time.sleep(hold_s)
            self.s.link_set(self.s.ifname_to(self.c), up=True)
        else:  # the volume filled to nothing, or to below ingest's threshold
            leave = 0 if kind == "disk full" else MIN_FREE_BYTES // 2
            filler = fill_volume(self.vol, leave)
            time.sleep(hold_s)
            filler.unlink()

    def into_slot(self, low_s: float, high_s: float) -> None:
        """Sleep until a random moment low_s..high_s after the start of the next round."""
        now = time.time()
        time.sleep(now // EVERY_S * EVERY_S + EVERY_S + self.rng.uniform(low_s, high_s) - now)

    def writer(self, timeout_s: float = 10.0) -> int:
        """The ingest writer's pid (a restarted server may still be starting it)."""
        deadline = time.monotonic() + timeout_s
        while (pid := writer_pid(self.server.proc.pid, self.db)) is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"soak: no ingest writer found in {timeout_s:g} s")
            time.sleep(0.05)
        return pid

    # measurements
    def logged(self) -> tuple[dict, dict]:
        """(region, round_ts) -> results of the rounds the collectors logged as spooled, and
        of those they logged as pushed from their spools."""
        spooled, pushed = {}, {}
        for region in REGIONS:
            text = self.log(region).read_text() if self.log(region).exists() else ""
            spooled.update({(region, int(r)): int(n) for r, n in ROUND_LOG.findall(text)})
            pushed.update({(region, int(r)): int(s) + int(d) for r, s, d in PUSHED_LOG.findall(text)})
        return spooled, pushed

    def spooled(self) -> dict[tuple[str, int], int]:
        """Every round the collectors spooled: logged as such, or, when a collector was killed
        between spooling and logging, found in its push log instead."""
        spooled, pushed = self.logged()
        return pushed | spooled

    def stored_keys(self) -> Counter:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
            return Counter(conn.execute("SELECT region, round_ts, target, probe FROM results"))

    def watch(self, stop: threading.Event) -> None:
        """Sample the age of the newest stored round until stop (the site's staleness)."""
        conn = None
        while not stop.wait(SAMPLE_S):
            try:
                conn = conn or sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
                newest = dict(conn.execute("SELECT region, max(round_ts) FROM results "
                                           "GROUP BY region"))
            except sqlite3.Error:
                continue  # not created yet
            if not newest:
                continue
            now = time.time()
            self.stale.site.append((now, now - max(newest.values())))
            if len(newest) == len(REGIONS):
                self.stale.worst_region_s = max(self.stale.worst_region_s,
                                                now - min(newest.values()))

    def drained(self) -> bool:
        if any(spool.pending(self.spool(r)) for r in REGIONS):
            return False
        stored_rounds = {(region, round_ts) for region, round_ts, _, _ in self.stored_keys()}
        return set(self.spooled()) <= stored_rounds

    def stop(self) -> None:
        for proc in self.collectors.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.collectors.values():
            proc.wait(timeout=30)
        if self.server is not None:
            self.server.proc.kill()
            self.server.proc.wait()


def run(soak: Soak, rounds: int, deadline_s: float) -> None:
    soak.start_server()
    for region in REGIONS:
        soak.start_collector(region)
    stop = threading.Event()
    watcher = threading.Thread(target=soak.watch, args=(stop,), daemon=True)
    watcher.start()
    per_kind = max(1, rounds // 20)
    deck = [kind for kind in FAULTS for _ in range(per_kind)]
    soak.rng.shuffle(deck)
    deadline = time.monotonic() + deadline_s
    try:
        while time.monotonic() < deadline:
            per_region = Counter(region for region, _ in soak.spooled())
            if min(per_region.get(r, 0) for r in REGIONS) >= rounds:
                break
            if deck:
                soak.fault(deck.pop())
            time.sleep(soak.rng.uniform(0.5, 1.5) * EVERY_S)
        else:
            raise SystemExit(f"soak: {rounds} rounds not reached in {deadline_s:.0f} s")
        drain_by = time.monotonic() + DRAIN_TIMEOUT_S
        while not soak.drained():
            if time.monotonic() > drain_by:
                raise SystemExit(f"soak: spools not drained in {DRAIN_TIMEOUT_S:.0f} s")
            time.sleep(0.5)
    finally:
        stop.set()
        watcher.join()
        soak.stop()


def report(soak: Soak, rounds: int, wall_s: float, load: float) -> bool:
    spooled = soak.spooled()
    sent = {(region, round_ts, target, probe) for region, round_ts in spooled
            for target in TARGETS for probe in PROBES}
    short = sum(len(TARGETS) * len(PROBES) - n for n in spooled.values())
    stored = soak.stored_keys()
    duplicated = sum(n - 1 for n in stored.values())
    lost = len(sent - set(stored))
    unsent = len(set(stored) - sent)
    logs = "".join(soak.log(r).read_text() for r in REGIONS)
    replaced = (soak.work / "ingest.log").read_text().count("writer exited with -9")
    absorbed = sum(int(d) for _, _, d in PUSHED_LOG.findall(logs))
    logged, pushed = soak.logged()
    unlogged = len(set(pushed) - set(logged))
    failures = Counter(code or "connection" for _, code in FAILED_LOG.findall(logs))
    leftover = sum(len(spool.pending(soak.spool(r))) for r in REGIONS)
    rejected = sum(len(list((soak.spool(r) / "rejected").glob("*"))) for r in REGIONS
                   if (soak.spool(r) / "rejected").is_dir())
    site = [age for _, age in soak.stale.site]
    worst_at, worst = max(soak.stale.site, key=lambda sample: sample[1])
    causes = [f"{kind} {end - start:.1f} s" for start, end, kind in soak.timeline
              if start <= worst_at and end >= worst_at - worst]
    during = f", across: {', '.join(causes)}" if causes else ""
    ok = lost == duplicated == unsent == short == leftover == rejected == 0
    faults = ", ".join(f"{kind} {soak.faults[kind]}" for kind in FAULTS)
    rows = [
        ("results sent (spooled by the collectors)", f"{len(sent):,}", ""),
        ("results stored", f"{sum(stored.values()):,}", ""),
        ("duplicated (stored more than once)", f"{duplicated}", "0"),
        ("lost (sent, never stored; dropped by a spool)", f"{lost}", "0"),
        ("stored but never sent", f"{unsent}", "0"),
        ("rounds whose collector was killed between spooling and logging them (in its push log)",
         f"{unlogged}", ""),
        ("re-sent after a lost answer, counted by central as duplicates", f"{absorbed:,}", ""),
        ("faults", faults, ""),
        ("ingest writers killed and replaced by the server", f"{replaced}", ""),
        ("pushes failed and retried: 503 / 507 / no connection",
         f"{failures['503']} / {failures['507']} / {failures['connection']}", ""),
        ("site staleness (age of the newest round): median / longest",
         f"{statistics.median(site):.1f} s / {worst:.1f} s ({worst / EVERY_S:.1f} rounds{during})",
         ""),
        ("longest a region went without a new round stored",
         f"{soak.stale.worst_region_s:.1f} s ({soak.stale.worst_region_s / EVERY_S:.1f} rounds)", ""),
        ("wall time / machine load average (1 min) at start", f"{wall_s:.0f} s / {load:.1f}", ""),
    ]
    print(f"| soak: {len(REGIONS)} regions, ≥ {rounds} rounds each, one every {EVERY_S} s, "
          f"{len(TARGETS)} targets × {'+'.join(PROBES)} | value | bar |")
    print("| --- | --- | --- |")
    for name, value, bar in rows:
        print(f"| {name} | {value} | {bar} |")
    print(f"\n{'PASS' if ok else 'FAIL'}: nothing lost, nothing duplicated, every spool drained")
    return ok


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the logs and the fault timeline")
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("soak: needs root (network namespaces and a tmpfs)")
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="nettrace-soak-"))
    started = time.monotonic()
    with Netns("soakc") as c, Netns("soaks") as s, tmpfs(work / "central", VOLUME_BYTES) as vol:
        veth(c, s, f"{COLLECTOR_IP}/30", f"{CENTRAL_IP}/30")
        c.popen([sys.executable, "-c", "import socket; s = socket.create_server("
                 f"('0.0.0.0', {OPEN_PORT}), backlog=1024)\nwhile True: s.accept()[0].close()"])
        soak = Soak(work, vol, c, s, random.Random(args.seed))
        run(soak, args.rounds, deadline_s=args.rounds * EVERY_S * 3 + 300)
        ok = report(soak, args.rounds, time.monotonic() - started, load)
    (work / "timeline.txt").write_text("".join(f"{a:.2f} {b:.2f} {kind}\n"
                                               for a, b, kind in soak.timeline))
    if ok and not args.keep:
        shutil.rmtree(work)
    else:
        print(f"logs and the fault timeline kept in {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""End to end in the lab: a collector daemon in its namespace pushes to ingest in another.
The ingest server is killed -9 mid-push and restarted, the link is paused, the collector is
killed -9 mid-round and restarted: afterwards every round the collector finished is stored
exactly once (counts and ids)."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from collect import spool
from collect.records import iso_utc
from tests.ingest.ingest_fixtures import launch, secret, wait_for_rollups
from tests.conftest import need_root, need_tool, wait_for
from tests.lab import catalog
from tests.lab.netns import Netns, veth

EVERY_S = 3
COLLECTOR_IP, CENTRAL_IP = "10.77.203.1", "10.77.203.2"
OPEN_PORT, CENTRAL = 7000, f"{CENTRAL_IP}:8470"
TARGETS = ((COLLECTOR_IP, OPEN_PORT), ("127.0.0.1", OPEN_PORT + 1))  # the second port is closed
PROBES = ("icmp", "tcp")
ROUND_LOG = re.compile(r"round (\d+): (\d+) results spooled")


class Lab:
    def __init__(self, tmp: Path, collector_ns: Netns, central_ns: Netns):
        self.tmp, self.c, self.s = tmp, collector_ns, central_ns
        self.catalog = catalog.write_catalog(tmp / "targets.toml", [
            catalog.CatalogEntry(host, f"lab {host}", port, PROBES) for host, port in TARGETS])
        self.log = tmp / "collector.log"
        self.server = self.collector = None

    def start_server(self) -> None:
        self.server = launch(self.tmp / "central.db", listen=CENTRAL, netns=self.s.name)

    def start_collector(self):
        env = dict(os.environ, NETTRACE_PUSH_SECRET=secret("ewr").decode())
        with open(self.log, "a") as log:
            self.collector = self.c.popen(
                [sys.executable, "-m", "nettrace", "collect", "--targets", str(self.catalog),
                 "--region", "ewr", "--every", f"{EVERY_S}s", "--push", f"http://{CENTRAL}",
                 "--spool", str(self.tmp / "spool"), "--samples", "2", "--interval", "0.05",
                 "--timeout", "0.5"], env=env, stdout=log, stderr=log)

    def spooled(self) -> dict[int, int]:
        return {int(r): int(n) for r, n in ROUND_LOG.findall(self.log.read_text())}

    def stored(self) -> dict[int, int]:
        if not (self.tmp / "central.db").exists():
            return {}
        with sqlite3.connect(self.tmp / "central.db", timeout=10) as conn:
            return dict(conn.execute("SELECT round_ts, count(*) FROM results GROUP BY round_ts"))

    def pending(self) -> list:
        return spool.pending(self.tmp / "spool")


def next_round_logged(lab: Lab) -> None:
    seen = len(lab.spooled())
    wait_for(lambda: len(lab.spooled()) > seen, 4 * EVERY_S, "a round to be spooled")


@pytest.mark.lab
def test_every_round_is_stored_exactly_once_through_crashes_and_a_network_pause(tmp_path):
    need_root()
    need_tool("ip", "iproute2")
    with Netns("ingestc") as c, Netns("ingests") as s:
        veth(c, s, f"{COLLECTOR_IP}/30", f"{CENTRAL_IP}/30")
        c.popen([sys.executable, "-c", "import socket, time; s = socket.create_server("
                 f"('{COLLECTOR_IP}', {OPEN_PORT})); time.sleep(600)"])
        lab = Lab(tmp_path, c, s)
        lab.start_server()
        try:
            lab.start_collector()
            wait_for(lambda: lab.stored(), 6 * EVERY_S, "the first round stored")
            # kill -9 the ingest server while the collector pushes a fresh round
            next_round_logged(lab)
            lab.server.proc.send_signal(signal.SIGKILL)
            lab.server.proc.wait()
            next_round_logged(lab)
            lab.start_server()
            # pause the network for more than a round
            s.link_set(s.ifname_to(c), up=False)
            next_round_logged(lab)
            next_round_logged(lab)
            s.link_set(s.ifname_to(c), up=True)
            # kill -9 the collector mid-round (probes take ~0.5 s after the slot starts)
            wait_for(lambda: time.time() % EVERY_S < 0.1, 2 * EVERY_S, "a slot to start")
            time.sleep(0.2)
            lab.collector.send_signal(signal.SIGKILL)
            lab.collector.wait()
            lab.start_collector()
            next_round_logged(lab)
            wait_for(lambda: not lab.pending() and set(lab.spooled()) <= set(lab.stored()),
                     10 * EVERY_S, "the spool to drain")
            lab.collector.send_signal(signal.SIGTERM)
            assert lab.collector.wait(timeout=20) == 0
            wait_for_rollups(tmp_path / "central.db")
        finally:
            lab.server.proc.kill()
            lab.server.proc.wait()
    spooled, stored = lab.spooled(), lab.stored()
    per_round = len(TARGETS) * len(PROBES)
    assert len(spooled) >= 6
    assert stored == {r: per_round for r in spooled}  # every finished round, each result once
    conn = sqlite3.connect(tmp_path / "central.db")
    ids = [f"{region}/{iso_utc(r)}/{target}/{probe}"
           for target, region, probe, r in conn.execute("SELECT target, region, probe, round_ts FROM results")]
    expected = {f"ewr/{iso_utc(r)}/{h}/{p}" for r in spooled for h, _ in TARGETS for p in PROBES}
    assert sorted(ids) == sorted(expected)
    assert conn.execute("SELECT sum(count) FROM hourly").fetchone() == (len(ids),)
    log = lab.log.read_text()
    assert "failed" in log and "retry" in log  # the outages were seen and retried through

"""The collector daemon (`nettrace collect --every --push --spool`) on loopback: rounds on the
grid, spooled through an outage, drained oldest first, every round stored once."""
from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from collect import spool
from collect.daemon import DaemonConfig, first_slot
from collect.push import PushTarget
from tests.ingest.ingest_fixtures import launch, secret
from tests.lab import catalog
from tests.conftest import free_port, wait_for

ROUND_LOG = re.compile(r"round (\d+): (\d+) results spooled")


def write_catalog(path: Path, hosts_ports: list[tuple[str, int]]) -> Path:
    return catalog.write_catalog(path, (catalog.CatalogEntry(h, f"loopback {i}", p, ("tcp",))
                                        for i, (h, p) in enumerate(hosts_ports)))


def start_collector(tmp_path: Path, catalog: Path, port: int, every: str = "2s") -> subprocess.Popen:
    env = dict(os.environ, NETTRACE_PUSH_SECRET=secret("ewr").decode())
    with open(tmp_path / "collector.log", "a") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "nettrace", "collect", "--targets", str(catalog), "--region", "ewr",
             "--every", every, "--push", f"http://127.0.0.1:{port}", "--spool", str(tmp_path / "spool"),
             "--samples", "2", "--timeout", "0.5", "--interval", "0.05"],
            env=env, stderr=log, stdout=log)


def rounds_stored(db: Path) -> int:
    with sqlite3.connect(db, timeout=10) as conn:
        return conn.execute("SELECT count(DISTINCT round_ts) FROM results").fetchone()[0]


def config(tmp_path: Path, first_round_now: bool = False) -> DaemonConfig:
    return DaemonConfig(900, tmp_path, PushTarget("http://x/v1/results", "ewr", b"s" * 16),
                        first_round_now=first_round_now)


def test_a_fresh_start_waits_for_the_next_grid_slot(tmp_path):
    now = 1_795_644_000 + 120.0
    assert first_slot(config(tmp_path), now) == 1_795_644_900
    assert first_slot(config(tmp_path, first_round_now=True), now) == 1_795_644_000


def test_a_restart_re_measures_the_slot_it_interrupted_but_never_a_finished_one(tmp_path):
    spool.append_round(tmp_path, 1_795_643_100, [])
    assert first_slot(config(tmp_path), 1_795_644_000 + 300.0) == 1_795_644_000
    spool.append_round(tmp_path, 1_795_644_000, [])
    assert first_slot(config(tmp_path), 1_795_644_000 + 300.0) == 1_795_644_900


def test_the_daemon_spools_through_an_outage_and_then_stores_every_round_once(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    catalog = write_catalog(tmp_path / "targets.toml",
                            [("127.0.0.1", listener.getsockname()[1]), ("127.0.0.2", free_port())])
    port = free_port()
    collector = start_collector(tmp_path, catalog, port)
    server = None
    try:
        wait_for(lambda: len(spool.pending(tmp_path / "spool")) >= 2, 20, "two rounds spooled")
        server = launch(tmp_path / "central.db", listen=f"127.0.0.1:{port}")
        wait_for(lambda: not spool.pending(tmp_path / "spool")
                 and rounds_stored(tmp_path / "central.db") >= 3, 30, "the spool to drain")
        collector.send_signal(signal.SIGTERM)
        assert collector.wait(timeout=20) == 0
        wait_for(lambda: not spool.pending(tmp_path / "spool"), 5, "the last round pushed")
    finally:
        collector.kill()
        if server:
            server.proc.kill()
            server.proc.wait()
        listener.close()
    log = (tmp_path / "collector.log").read_text()
    spooled = {int(r): int(n) for r, n in ROUND_LOG.findall(log)}
    conn = sqlite3.connect(tmp_path / "central.db")
    stored = dict(conn.execute("SELECT round_ts, count(*) FROM results GROUP BY round_ts"))
    pending = {seg.round_ts for seg in map(spool.read_segment, spool.pending(tmp_path / "spool"))}
    assert {r: n for r, n in spooled.items() if r not in pending} == stored and len(stored) >= 3
    assert all(r % 2 == 0 and n == 2 for r, n in stored.items())  # on the 2 s grid, both targets
    by_target = set(conn.execute("SELECT DISTINCT target, ok FROM results"))
    assert by_target == {("127.0.0.1", 1), ("127.0.0.2", 0)}  # a refused port is a stored failure
    arrival = [r for r, in conn.execute("SELECT round_ts FROM results GROUP BY round_ts ORDER BY min(rowid)")]
    assert arrival == sorted(arrival)  # the backlog drained oldest first
    assert "push of" in log and "failed" in log  # the outage was seen and retried

"""Retention: raw rows older than 7 days and hourly rows older than 90 days go, in chunks."""
from __future__ import annotations

import subprocess
import sys
import time

from db.connection import connect
from collect.records import round_slot
from ingest.retention import DAY_S, Retention, prune
from ingest.store import store_batch
from tests.ingest.ingest_fixtures import results

NOW = round_slot(time.time())


def test_prune_keeps_raw_for_7_days_and_hourly_for_90_in_small_chunks(tmp_path):
    conn = connect(tmp_path / "central.db")
    ages_days = (0, 6, 8, 30, 89, 91)
    for age in ages_days:
        store_batch(conn, results(round_ts=round_slot(NOW - age * DAY_S), targets=5))
    raw, hourly = prune(conn, NOW, Retention(chunk_rows=7))
    assert (raw, hourly) == (4 * 30, 30)
    kept = {r[0] for r in conn.execute("SELECT DISTINCT round_ts FROM results")}
    assert kept == {round_slot(NOW - a * DAY_S) for a in (0, 6)}
    assert conn.execute("SELECT count(DISTINCT hour_ts) FROM hourly").fetchone() == (5,)


def test_prune_command_takes_custom_retention(tmp_path):
    conn = connect(tmp_path / "central.db")
    store_batch(conn, results(round_ts=round_slot(NOW - 2 * DAY_S)))
    store_batch(conn, results(round_ts=NOW))
    conn.close()
    done = subprocess.run([sys.executable, "-m", "nettrace", "ingest", "prune", "--db",
                           str(tmp_path / "central.db"), "--raw-days", "1", "--hourly-days", "1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "pruned 18 raw results, 18 hourly rows" in done.stdout

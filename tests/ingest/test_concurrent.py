"""Seven regions push at once while readers query: every push answers 200 and no reader or
client ever sees `database is locked`."""
from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from collect.records import round_slot
from tests.ingest.ingest_fixtures import REGIONS, body_of, push, results, running, wait_for_rollups

ROUNDS = 8
TARGETS = 20  # x 6 probes = 120 results per round and region


def push_region(url: str, region: str) -> list[int]:
    first = round_slot(time.time()) - ROUNDS * 900
    with httpx.Client() as client:
        return [push(url, body_of(results(region, first + i * 900, targets=TARGETS)), region,
                     client=client).status_code for i in range(ROUNDS)]


def read_until(db, stop: threading.Event, errors: list[str]) -> int:
    queries = 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    while not stop.is_set():
        try:
            conn.execute("SELECT region, count(*), avg(rtt_ms) FROM results GROUP BY region").fetchall()
            conn.execute("SELECT target, avg(median_ms) FROM hourly GROUP BY target").fetchall()
            queries += 1
        except sqlite3.Error as exc:
            errors.append(str(exc))
    conn.close()
    return queries


def test_seven_regions_pushing_at_once_with_readers_never_see_a_locked_database(tmp_path):
    db = tmp_path / "central.db"
    errors: list[str] = []
    stop = threading.Event()
    with running(db) as server, ThreadPoolExecutor(len(REGIONS) + 3) as pool:
        push(server.push_url, body_of(results("ewr", targets=1)))  # schema exists for readers
        readers = [pool.submit(read_until, db, stop, errors) for _ in range(3)]
        statuses = list(pool.map(lambda r: push_region(server.push_url, r), REGIONS))
        stop.set()
        queries = sum(r.result() for r in readers)
        wait_for_rollups(db)
    assert statuses == [[200] * ROUNDS] * len(REGIONS)
    assert errors == [] and queries > 0
    conn = sqlite3.connect(db)
    per_region = dict(conn.execute("SELECT region, count(*) FROM results GROUP BY region"))
    expected = {r: ROUNDS * TARGETS * 6 for r in REGIONS}
    expected["ewr"] += 6
    assert per_region == expected
    assert conn.execute("SELECT sum(count) FROM hourly").fetchone() == (sum(expected.values()),)

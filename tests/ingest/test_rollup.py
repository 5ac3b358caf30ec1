"""Hourly rollups after a refresh always equal a full recompute from raw rows, also when
batches hold duplicates, another connection writes the same hours, or a writer died before
its refresh."""
from __future__ import annotations

import random
import sqlite3
from collections import defaultdict

import orjson
import pytest

from db.connection import connect
from ingest.live_rollups import LiveRollups
from collect.records import sample_stats
from ingest.rollup import flush_rollups
from ingest.store import store_batch, store_batches
from ingest.validate import validate_record
from tests.ingest.ingest_fixtures import results

HOUR = 1_795_644_000


def recomputed(conn) -> list[tuple]:
    """Every hour from raw rows, independently of ingest.rollup's fold."""
    hours = defaultdict(list)
    for target, region, probe, round_ts, ok, samples in conn.execute(
            "SELECT target, region, probe, round_ts, ok, samples_ms FROM results"):
        hours[target, region, probe, round_ts // 3600 * 3600].append((ok, orjson.loads(samples)))
    rows = []
    for key, entries in hours.items():
        samples = [s for _, got in entries for s in got]
        received = [s for s in samples if s is not None]
        stats = sample_stats(received)
        loss = round(1.0 - len(received) / len(samples), 4) if samples else 1.0
        rows.append((*key, len(entries), sum(ok for ok, _ in entries), stats["rtt_ms"],
                     stats["p95_ms"], stats["min_ms"], stats["max_ms"], loss))
    return sorted(rows)


def stored(conn) -> list[tuple]:
    return sorted(conn.execute("SELECT target, region, probe, hour_ts, count, ok_count, median_ms, "
                               "p95_ms, min_ms, max_ms, loss FROM hourly"))


def rows_of(records):
    return [validate_record(r, None) for r in records]


@pytest.mark.parametrize("live", [None, 1, 32], ids=["from-results", "one-hour-in-memory",
                                                   "in-memory"])
def test_refreshed_rollups_match_a_full_recompute_through_duplicates_and_other_writers(
        tmp_path, live):
    rng = random.Random(7)
    live = None if live is None else LiveRollups(max_hours=live)
    writer, other = connect(tmp_path / "c.db"), connect(tmp_path / "c.db")
    for step in range(40):
        round_ts = HOUR + rng.randrange(0, 12) * 900
        samples = tuple(rng.choice([None, rng.uniform(1, 300)]) for _ in range(3))
        batch = rows_of(results(rng.choice(["ewr", "sin"]), round_ts, targets=3, samples=samples))
        if step % 5 == 4:  # another process (import, test factory) writes the same hours
            store_batch(other, results("ewr", round_ts + 900, targets=2, samples=samples))
        if step % 3 == 2:  # a batch stored in full after its hour is in memory
            store_batches(writer, [batch], 0.0, refresh=False, live=live)
        store_batches(writer, [batch, batch[: rng.randrange(1, len(batch))]], 0.0, refresh=False,
                      live=live)
        if step % 7 == 6:
            flush_rollups(writer, live)
    flush_rollups(writer, live)
    assert stored(writer) == recomputed(writer)
    assert writer.execute("SELECT count(*) FROM hourly_dirty").fetchone() == (0,)


def test_hours_marked_by_a_writer_that_died_are_refreshed_by_the_next(tmp_path):
    conn = connect(tmp_path / "c.db")
    store_batches(conn, [rows_of(results(round_ts=HOUR))], 0.0, refresh=False)
    conn.close()  # no refresh: as if the writer had been killed
    conn = connect(tmp_path / "c.db")
    assert conn.execute("SELECT count(*) FROM hourly").fetchone() == (0,)
    assert flush_rollups(conn) == 18
    assert stored(conn) == recomputed(conn)


def test_a_median_and_p95_span_every_sample_of_the_hour(tmp_path):
    conn = connect(tmp_path / "c.db")
    store_batch(conn, results(round_ts=HOUR, targets=1, probes=("icmp",), samples=(1.0, 2.0, 3.0)))
    store_batch(conn, results(round_ts=HOUR + 900, targets=1, probes=("icmp",), samples=(4.0, None)))
    row = conn.execute("SELECT count, median_ms, p95_ms, min_ms, max_ms, loss FROM hourly").fetchone()
    assert row[:2] == (2, 2.5) and row[3:] == (1.0, 4.0, 0.2)
    assert abs(row[2] - 3.85) < 1e-9  # numpy's linear p95 of 1, 2, 3, 4


def test_in_memory_folds_follow_a_lone_writer_and_forget_a_rolled_back_write(tmp_path):
    conn, live = connect(tmp_path / "c.db"), LiveRollups()
    for step in range(8):  # rounds of one hour and the next, folded in memory after the first
        store_batches(conn, [rows_of(results(round_ts=HOUR + step * 900, samples=(step + 1.0,)))],
                      0.0, refresh=False, live=live)
    assert len(live.folds) == 2 and all(h.count == 4 for h in live.folds["ewr", HOUR].values())
    late = rows_of(results(round_ts=HOUR + 8 * 900, samples=(99.0,)))
    broken = [late[0][:3] + ("not a round",) + late[0][4:]]  # STRICT refuses it: all rolls back
    with pytest.raises(sqlite3.IntegrityError):
        store_batches(conn, [late, broken], 0.0, refresh=False, live=live)
    assert live.folds == {}
    flush_rollups(conn, live)
    assert stored(conn) == recomputed(conn)
    assert conn.execute("SELECT max(max_ms) FROM hourly").fetchone() == (8.0,)

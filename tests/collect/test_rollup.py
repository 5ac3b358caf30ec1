"""The cached hourly rollup always equals a full recompute from raw rows, also when batches
hold duplicates or another connection writes the same hours."""
from __future__ import annotations

import random


from collect.db import connect
from collect.rollup import RollupCache, hourly_row, load_hours
from collect.store import store_batch, store_batches
from collect.validate import validate_record
from tests.collect.ingest_fixtures import results

HOUR = 1_795_644_000


def recomputed(conn) -> list[tuple]:
    keys = {row for row in conn.execute("SELECT target, region, probe, hour_ts FROM hourly")}
    conn.execute("BEGIN")
    hours = load_hours(conn, keys)
    conn.execute("ROLLBACK")
    return sorted(hourly_row(k, h) for k, h in hours.items())


def stored(conn) -> list[tuple]:
    return sorted(conn.execute("SELECT target, region, probe, hour_ts, count, ok_count, median_ms, "
                               "p95_ms, min_ms, max_ms, loss FROM hourly"))


def rows_of(records):
    return [validate_record(r, None) for r in records]


def test_cached_rollups_match_a_full_recompute_through_duplicates_and_other_writers(tmp_path):
    rng = random.Random(7)
    writer, other = connect(tmp_path / "c.db"), connect(tmp_path / "c.db")
    cache = RollupCache(max_hours=20)  # small, so eviction is exercised too
    for step in range(40):
        round_ts = HOUR + rng.randrange(0, 12) * 900
        samples = tuple(rng.choice([None, rng.uniform(1, 300)]) for _ in range(3))
        batch = rows_of(results(rng.choice(["ewr", "sin"]), round_ts, targets=3, samples=samples))
        if step % 5 == 4:  # another process (import, test factory) writes the same hours
            store_batch(other, results("ewr", round_ts + 900, targets=2, samples=samples))
        store_batches(writer, [batch, batch[: rng.randrange(1, len(batch))]], 0.0, cache)
    assert stored(writer) == recomputed(writer)


def test_a_median_and_p95_span_every_sample_of_the_hour(tmp_path):
    conn = connect(tmp_path / "c.db")
    store_batch(conn, results(round_ts=HOUR, targets=1, probes=("icmp",), samples=(1.0, 2.0, 3.0)))
    store_batch(conn, results(round_ts=HOUR + 900, targets=1, probes=("icmp",), samples=(4.0, None)))
    row = conn.execute("SELECT count, median_ms, p95_ms, min_ms, max_ms, loss FROM hourly").fetchone()
    assert row[:2] == (2, 2.5) and row[3:] == (1.0, 4.0, 0.2)
    assert abs(row[2] - 3.85) < 1e-9  # numpy's linear p95 of 1, 2, 3, 4

"""store_batch: results and hourly rollups in one transaction; replays are duplicates."""
from __future__ import annotations

import pytest

from db.connection import connect
from collect.records import Measurement, ProbeResult
from ingest.store import store_batch
from ingest.validate import ValidationError

ROUND = 1_795_644_000  # a 15-minute grid slot that is also an hour boundary


def result(target="a.example", probe="icmp", round_ts=ROUND, samples=(10.0, 20.0, None, 30.0),
           region="ewr") -> dict:
    return ProbeResult(target, region, probe, round_ts, round_ts + 1.0, Measurement(samples)).to_json()


@pytest.fixture
def conn(tmp_path):
    c = connect(tmp_path / "central.db")
    yield c
    c.close()


def test_a_batch_stored_twice_is_stored_once_and_counted_as_duplicates(conn):
    batch = [result(probe=p) for p in ("icmp", "tcp", "tls")]
    assert store_batch(conn, batch) == (3, 0)
    assert store_batch(conn, batch) == (0, 3)
    assert conn.execute("SELECT count(*) FROM results").fetchone() == (3,)


def test_hourly_rollup_covers_every_sample_of_the_hours_rounds(conn):
    store_batch(conn, [result(samples=(10.0, 20.0))])
    store_batch(conn, [result(round_ts=ROUND + 900, samples=(30.0, None)),
                       result(round_ts=ROUND + 3600, samples=(99.0,))])
    rows = conn.execute("SELECT hour_ts, count, ok_count, median_ms, min_ms, max_ms, loss "
                        "FROM hourly ORDER BY hour_ts").fetchall()
    assert rows == [(ROUND, 2, 2, 20.0, 10.0, 30.0, 0.25), (ROUND + 3600, 1, 1, 99.0, 99.0, 99.0, 0.0)]


def test_a_batch_with_one_bad_record_writes_nothing(conn):
    bad = result(target="b.example")
    bad["loss"] = 2.0
    with pytest.raises(ValidationError) as err:
        store_batch(conn, [result(), bad])
    assert err.value.path == "[1].loss"
    assert conn.execute("SELECT count(*) FROM results").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM hourly").fetchone() == (0,)


def test_failed_results_are_stored_with_full_loss(conn):
    store_batch(conn, [result(samples=(None, None))])
    assert conn.execute("SELECT ok, rtt_ms, loss FROM results").fetchone() == (0, None, 1.0)
    assert conn.execute("SELECT count, ok_count, median_ms, loss FROM hourly").fetchone() == (1, 0, None, 1.0)

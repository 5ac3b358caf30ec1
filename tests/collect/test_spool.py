"""The collector's spool: durable per-round segments, oldest first, capped with a warning."""
from __future__ import annotations

import json
import logging

from collect import spool
from tests.ingest.ingest_fixtures import results

ROUND = 1_795_644_000


def test_segments_come_back_oldest_first_with_every_result(tmp_path):
    for offset in (1800, 0, 900):
        spool.append_round(tmp_path, ROUND + offset, results(round_ts=ROUND + offset))
    paths = spool.pending(tmp_path)
    assert [spool.read_segment(p).round_ts for p in paths] == [ROUND, ROUND + 900, ROUND + 1800]
    segment = spool.read_segment(paths[0])
    assert [json.loads(line) for line in segment.lines] == results(round_ts=ROUND)
    assert spool.last_round(tmp_path) == ROUND + 900  # the last one written
    assert not list(tmp_path.glob(".*tmp"))


def test_an_empty_round_is_marked_done_without_a_segment(tmp_path):
    spool.append_round(tmp_path, ROUND, [])
    assert spool.pending(tmp_path) == [] and spool.last_round(tmp_path) == ROUND


def test_the_cap_drops_the_oldest_rounds_with_a_warning_and_keeps_the_newest(tmp_path, caplog):
    for i in range(5):
        spool.append_round(tmp_path, ROUND + i * 900, results(round_ts=ROUND + i * 900))
    size = spool.pending(tmp_path)[0].stat().st_size
    with caplog.at_level(logging.WARNING):
        dropped = spool.enforce_cap(tmp_path, max_bytes=2 * size)
    assert [p.stem for p in dropped] == [f"{ROUND + i * 900:012d}" for i in range(3)]
    assert len(spool.pending(tmp_path)) == 2
    assert caplog.text.count("spool over its cap") == 3
    oldest = spool.pending(tmp_path)[0]
    assert spool.enforce_cap(tmp_path, max_bytes=1) == [oldest]
    assert len(spool.pending(tmp_path)) == 1  # never the newest round


def test_a_rejected_segment_moves_aside(tmp_path):
    spool.append_round(tmp_path, ROUND, results(round_ts=ROUND))
    moved = spool.reject(spool.read_segment(spool.pending(tmp_path)[0]), "HTTP 400")
    assert spool.pending(tmp_path) == [] and moved.parent.name == "rejected"


def test_rejecting_a_segment_the_cap_dropped_meanwhile_is_logged_not_raised(tmp_path, caplog):
    spool.append_round(tmp_path, ROUND, results(round_ts=ROUND))
    segment = spool.read_segment(spool.pending(tmp_path)[0])
    segment.path.unlink()  # enforce_cap ran while the push was in flight
    with caplog.at_level(logging.ERROR, logger="nettrace.spool"):
        assert spool.reject(segment, "HTTP 400") is None
    assert "already dropped" in caplog.text

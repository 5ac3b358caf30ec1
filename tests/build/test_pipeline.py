"""The whole build on the shared fixture database: the output layout of DEVELOPERS.md, envelopes,
reproducible bytes, reuse between builds, stored signals and the skipped-input report."""
from __future__ import annotations

import json
import random
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from build.read.inputs import BuildClock
from build.pipeline import BuildOptions, run_build
from db.connection import connect
from collect.records import ROUND_S, iso_utc
from ingest.store import store_batch
from tests.factories import END_ROUND_TS, _round_records, make_db, round_ts_of

HOSTS = ("api.kraken.com", "api.binance.com", "www.nyse.com", "www.cmegroup.com")


def _build(fx, root: Path, cache: bool = True, now: float | None = None):
    opts = BuildOptions(fx.path, root / "public", root / "private", fx.catalog,
                        BuildClock(fx.round_ts + 30 if now is None else now),
                        root / "cache" if cache else None)
    return run_build(opts)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("built")
    fx = make_db(tmp, rounds=100, route_change=("api.kraken.com", "fra", 90),
                 spike=("api.kraken.com", "ewr", 40.0))
    report = _build(fx, tmp)
    return fx, tmp, report


def test_outputs_land_at_the_documented_paths(built):
    _, root, _ = built
    public, private = _tree(root / "public"), _tree(root / "private")
    expected_public = ["api/v1/index.json", "api/v1/targets.json", "api/v1/openapi.json",
                       "api/v1/rankings.json", "api/v1/rankings/crypto-exchanges.json", "metrics",
                       "feeds/signals.atom"]
    for host in HOSTS:
        expected_public += [f"api/v1/latency/{host}.json", f"api/v1/latency/{host}/history.json",
                            f"api/v1/badge/{host}.json", f"widget/{host}.svg",
                            f"widget/{host}.png", f"widget/{host}/fra.svg"]
    assert set(expected_public) <= set(public)
    expected_private = ["api/v1/signals.json", "api/v1/signals/history.json",
                        "api/v1/compare.json"]
    for host in HOSTS:
        expected_private += [f"api/v1/latency/{host}/history-30d.json",
                             f"api/v1/latency/{host}/history-90d.json",
                             f"api/v1/routes/{host}.json"]
    assert set(expected_private) <= set(private)
    assert "api/v1/signals/quality.json" in public  # how often the signals are wrong: free
    paid = [p for p in public if p.startswith("api/v1/signals") and not p.endswith("quality.json")]
    assert paid == []  # the signals themselves stay private


def test_every_json_file_carries_schema_and_generated_at(built):
    _, root, _ = built
    for area in ("public", "private"):
        for path, data in _tree(root / area).items():
            if not path.endswith(".json") or path.startswith("api/v1/badge/"):
                continue
            doc = json.loads(data)
            if path.endswith("openapi.json"):
                assert doc["x-schema"] and doc["x-generated-at"], path
            else:
                assert doc["schema"].startswith("nettrace.") and doc["generated_at"], path


def test_generated_at_is_the_latest_round_not_the_wall_clock(built):
    fx, root, report = built
    doc = json.loads((root / "public/api/v1/targets.json").read_bytes())
    assert report.generated_at == fx.round_ts
    assert doc["generated_at"] == "2026-11-25T22:00:00Z"


def test_spike_and_route_change_become_stored_events_with_hops(built):
    fx, root, report = built
    doc = json.loads((root / "private/api/v1/signals/history.json").read_bytes())
    kinds = {(e["type"], e["target"], e["region"]): e for e in doc["signals"]}
    spike = kinds[("spike", "api.kraken.com", "ewr")]
    assert spike["status"] == "resolved" and spike["started_at"] == iso_utc(round_ts_of(fx.spec, 98))
    change = kinds[("route_change", "api.kraken.com", "fra")]
    detail = change["detail"]
    assert detail["old_hops"] != detail["new_hops"] and change["scope"] == "regional"
    assert change["started_at"] == iso_utc(round_ts_of(fx.spec, 90))  # the new route's first round
    routes = json.loads((root / "private/api/v1/routes/api.kraken.com.json").read_bytes())
    fra = routes["regions"]["fra"]
    assert len(fra["hops"]) == 6 and fra["changes"][0]["ts"] == change["started_at"]
    with sqlite3.connect(fx.path) as conn:
        stored = conn.execute("SELECT count(*) FROM signals").fetchone()[0]
        logged = conn.execute("SELECT kind, count(*) FROM signal_transitions GROUP BY kind")
        assert stored == len(doc["signals"]) and dict(logged.fetchall()) == {
            "opened": stored, "resolved": 1}  # the spike is over; the new route holds
    assert report.signals_stored == stored + 1


def test_same_database_gives_byte_identical_output(built, tmp_path):
    fx, root, _ = built
    _build(fx, tmp_path, cache=False)
    for area in ("public", "private"):
        assert _tree(tmp_path / area) == _tree(root / area)


def test_second_build_reuses_outputs_and_matches_a_full_build(built, tmp_path):
    fx, root, _ = built
    again = _build(fx, root)
    assert again.reused_files >= 3 * len(HOSTS)  # PNGs and both long histories
    assert again.signals_stored == 0  # the same round is not stored twice
    _build(fx, tmp_path, cache=False)
    assert _tree(tmp_path / "private") == _tree(root / "private")


def test_a_late_region_is_marked_stale_everywhere(tmp_path):
    fx = make_db(tmp_path, late_regions=("sin",))
    report = _build(fx, tmp_path)
    assert "region sin: missed the latest round" in report.skipped
    latency = json.loads((tmp_path / "public/api/v1/latency/api.kraken.com.json").read_bytes())
    assert latency["regions"]["sin"]["stale"] is True
    assert latency["best"]["region"] != "sin"
    metrics = (tmp_path / "public/metrics").read_text()
    assert 'nettrace_region_up{region="sin"} 0' in metrics
    assert 'region="sin",category' not in metrics  # no old numbers shown as current
    assert "no data" in (tmp_path / "public/widget/api.kraken.com/sin.svg").read_text()


def test_a_round_overdue_by_more_than_a_minute_makes_every_region_stale(tmp_path):
    fx = make_db(tmp_path)
    report = _build(fx, tmp_path, now=round_ts_of(fx.spec, fx.spec.rounds - 1) + 900 + 61)
    assert sum("round late" in line for line in report.skipped) == 3
    badge = json.loads((tmp_path / "public/api/v1/badge/api.kraken.com.json").read_bytes())
    assert (badge["message"], badge["color"]) == ("no data", "lightgrey")


def _without_build_duration(tree: dict[str, bytes]) -> dict[str, bytes]:
    """The tree with the one line allowed to differ (the previous build's duration) removed."""
    out = dict(tree)
    if "metrics" in out:
        out["metrics"] = b"\n".join(line for line in out["metrics"].split(b"\n")
                                     if b"nettrace_build_duration_seconds" not in line)
    return out


def _store(fx, records: list[dict], received_at: float) -> None:
    conn = connect(fx.path)
    try:
        store_batch(conn, records, received_at=received_at)
    finally:
        conn.close()


def _next_round(fx) -> tuple[list[dict], int]:
    """The results of one more round after the fixture's latest, drawn as make_db draws them."""
    spec = replace(fx.spec, rounds=fx.spec.rounds + 1, end_round_ts=fx.round_ts + ROUND_S)
    return _round_records(spec, fx.spec.rounds, random.Random(7)), spec.end_round_ts


def _late_results(fx, host: str, index: int) -> tuple[list[dict], int]:
    """One target's results for round index (a gap in the fixture), arriving now."""
    spec = replace(fx.spec, gap_rounds=())
    records = [r for r in _round_records(spec, index, random.Random(7)) if r["target"] == host]
    return records, fx.round_ts


KRAKEN_30D = "private/api/v1/latency/api.kraken.com/history-30d.json"


@pytest.mark.parametrize("end_offset_s, gap_rounds, change, changed_path", [
    # the fixture ends at 22:00; the new round is 22:15
    (0, (), "same_hour", "public/api/v1/latency/api.kraken.com.json"),
    # the fixture ends at 21:45; the new round at 22:00 completes the 21:00 hour
    (-ROUND_S, (), "new_hour", KRAKEN_30D),
    # 20:00 was missed by everyone; kraken's results for it arrive late
    (0, (3,), "late", KRAKEN_30D),
])
def test_an_incremental_build_equals_a_build_without_cache(tmp_path, end_offset_s, gap_rounds,
                                                          change, changed_path):
    fx = make_db(tmp_path, end_round_ts=END_ROUND_TS + end_offset_s, gap_rounds=gap_rounds,
                 route_change=("api.kraken.com", "fra", 8))
    _build(fx, tmp_path / "cached")
    previous = (tmp_path / "cached" / changed_path).read_bytes()
    if change == "late":
        records, now_round = _late_results(fx, "api.kraken.com", 3)
    else:
        records, now_round = _next_round(fx)
    _store(fx, records, received_at=now_round + 30)
    incremental = _build(fx, tmp_path / "cached", now=now_round + 30)
    _build(fx, tmp_path / "full", cache=False, now=now_round + 30)
    assert incremental.reused_files > 0
    assert (tmp_path / "cached" / changed_path).read_bytes() != previous  # the change shows
    for area in ("public", "private"):
        got = _without_build_duration(_tree(tmp_path / "cached" / area))
        want = _without_build_duration(_tree(tmp_path / "full" / area))
        assert got.keys() == want.keys(), area
        assert [p for p in got if got[p] != want[p]] == [], area


def test_a_new_hour_slides_the_previous_history_files_on_instead_of_reading_90_days(
        tmp_path, monkeypatch):
    import build.read.long_history

    fx = make_db(tmp_path, end_round_ts=END_ROUND_TS - ROUND_S)
    _build(fx, tmp_path / "cached")
    records, now_round = _next_round(fx)  # completes an hour
    _store(fx, records, received_at=now_round + 30)

    def whole_history(*args):
        raise AssertionError("a target's whole history was read from the database")

    monkeypatch.setattr(build.read.long_history, "read_target_hourly", whole_history)
    _build(fx, tmp_path / "cached", now=now_round + 30)
    monkeypatch.undo()
    _build(fx, tmp_path / "full", cache=False, now=now_round + 30)
    assert _tree(tmp_path / "cached" / "private") == _tree(tmp_path / "full" / "private")


def test_a_build_without_its_state_file_gives_the_same_bytes(tmp_path):
    fx = make_db(tmp_path, end_round_ts=END_ROUND_TS - ROUND_S,
                 route_change=("api.kraken.com", "fra", 8))
    _build(fx, tmp_path / "kept")
    _build(fx, tmp_path / "lost")
    records, now_round = _next_round(fx)  # a new round that completes an hour
    _store(fx, records, received_at=now_round + 30)
    (tmp_path / "lost" / "cache" / "state.npz").unlink()
    _build(fx, tmp_path / "kept", now=now_round + 30)
    report = _build(fx, tmp_path / "lost", now=now_round + 30)
    assert report.reused_files == 0  # nothing carried: everything read from the database
    for area in ("public", "private"):
        kept = _without_build_duration(_tree(tmp_path / "kept" / area))
        lost = _without_build_duration(_tree(tmp_path / "lost" / area))
        assert kept == lost, area


def _events(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, type, target, region, probe, started_at, ended_at, status "
                            "FROM signals ORDER BY id").fetchall()


def test_builds_round_by_round_with_a_lost_state_store_each_event_once_as_one_build_would(
        tmp_path):
    shifted = (40, 47)  # Kraken from ewr is 40 ms slower for these rounds (end exclusive)
    fx = make_db(tmp_path, rounds=56, shift=("api.kraken.com", "ewr", 40.0, *shifted))
    whole = tmp_path / "whole.sqlite"
    shutil.copyfile(fx.path, whole)
    for index in range(36, 56):
        if index == 43:  # mid-event: the state file is lost, the open event is in the database
            (tmp_path / "cache" / "state.npz").unlink()
        _build(fx, tmp_path, now=round_ts_of(fx.spec, index) + 30)
    _build(replace(fx, path=whole), tmp_path / "one", cache=False)
    events = _events(fx.path)
    assert events == _events(whole)  # the same ids, onsets and ends as one build judging it all
    shifts = [e for e in events if e[1] == "level_shift" and e[2:5] == ("api.kraken.com", "ewr", "icmp")]
    assert len(shifts) == 1
    _, _, _, _, _, started, ended, status = shifts[0]
    assert started == round_ts_of(fx.spec, shifted[0]) and status == "resolved"
    assert round_ts_of(fx.spec, shifted[1]) <= ended <= round_ts_of(fx.spec, shifted[1] + 4)
    with sqlite3.connect(fx.path) as conn:
        kinds = conn.execute("SELECT kind, count(*) FROM signal_transitions WHERE signal_id = ? "
                             "GROUP BY kind", (shifts[0][0],)).fetchall()
    assert dict(kinds) == {"opened": 1, "resolved": 1}


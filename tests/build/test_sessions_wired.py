"""Trading sessions through the whole build: the market's state on the target page and in the
latency JSON, in-session figures against a hand computation from the stored results, the keyed
7- and 30-day file, events flagged in_session by their onset, the 24 h chart's shading, and the
session table built by a child process only when the carried one no longer serves (the build
itself never imports pandas)."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

import build.read.inputs
from build.pipeline import BuildOptions, run_build
from build.read.inputs import BuildClock
from collect.records import Measurement, Target
from tests.factories import TARGETS, FixtureSpec, make_db, result_record, round_ts_of

ROOT = Path(__file__).resolve().parents[2]
NYSE = Target("www.nyse.com", "NYSE", "Exchanges & Markets", calendar="XNYS")
WITH_NYSE = tuple(NYSE if t.host == NYSE.host else t for t in TARGETS)
HOUR_S = 3600
# NYSE on Wednesday 2026-11-25 (EST): 09:30-16:00 New York is 14:30-21:00 UTC
NOV25_OPEN, NOV25_CLOSE = (int(datetime(2026, 11, 25, h, m, tzinfo=timezone.utc).timestamp())
                           for h, m in ((14, 30), (21, 0)))
FAILED_ROUND = 30  # 15:45 UTC: NYSE from sin times out once, in session


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _build(fx, out: Path, cache: bool = True):
    return run_build(BuildOptions(fx.path, out / "public", out / "private", fx.catalog,
                                  BuildClock(fx.round_ts + 30), out / "cache" if cache else None))


def _json(path: Path) -> dict:
    return json.loads(path.read_bytes())


@pytest.fixture(scope="module")
def christmas(tmp_path_factory):
    """A build at 12:00 New York on Christmas Day 2026, in a process of its own that reports
    which modules it imported."""
    tmp = tmp_path_factory.mktemp("christmas")
    fx = make_db(tmp, targets=WITH_NYSE, end_round_ts=utc(2026, 12, 25, 17))
    code = ("import json, sys\nfrom pathlib import Path\n"
            "from build.pipeline import BuildOptions, run_build\n"
            "from build.read.inputs import BuildClock\n"
            "from collect.records import Region, Target\nfrom collect.targets import Catalog\n"
            f"run_build(BuildOptions(Path({str(fx.path)!r}), Path({str(tmp / 'public')!r}), "
            f"Path({str(tmp / 'private')!r}), {fx.catalog!r}, BuildClock({fx.round_ts + 30})))\n"
            "print(json.dumps(sorted(m for m in sys.modules\n"
            "                        if m.split('.')[0] in ('pandas', 'exchange_calendars'))))\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return fx, tmp, json.loads(run.stdout)


def test_the_build_process_never_imports_pandas_or_exchange_calendars(christmas):
    _, _, imported = christmas
    assert imported == []  # the session table came from build/sessions_table.py's child


def test_nyse_on_christmas_day_2026_shows_closed_with_the_next_open(christmas):
    _, tmp, _ = christmas
    doc = _json(tmp / "public/api/v1/latency/www.nyse.com.json")["sessions"]
    assert (doc["calendar"], doc["at"], doc["open"]) == ("XNYS", "2026-12-25T17:00:00Z", False)
    assert (doc["next_open"], doc["next_close"]) == ("2026-12-28T14:30:00Z",
                                                     "2026-12-28T21:00:00Z")
    page = (tmp / "public/status/www.nyse.com/index.html").read_text()
    assert '<strong class="market closed">closed</strong>, opens <time datetime="' \
           '2026-12-28T14:30:00Z">2026-12-28 14:30 UTC</time>' in page
    # Christmas Eve closed at 13:00 New York (18:00 UTC): of the 24 h the chart shows, the hour
    # from 17:00 UTC is the only session, and it is shaded
    assert page.count('<rect class="shade"') == 1
    assert "shaded: XNYS session hours (UTC) 17:00-18:00" in page
    assert doc["windows"]["24h"]["regions"]["ewr"]["session_hours"] == 1


def test_a_crypto_target_is_always_open_and_its_chart_has_no_shading(christmas):
    _, tmp, _ = christmas
    doc = _json(tmp / "public/api/v1/latency/api.kraken.com.json")["sessions"]
    assert (doc["calendar"], doc["always_open"], doc["open"]) == (None, True, True)
    assert (doc["next_open"], doc["next_close"]) == (None, None)
    figures = doc["windows"]["24h"]["regions"]["fra"]
    assert figures["session_median_ms"] == figures["all_median_ms"] is not None
    assert figures["session_hours"] == figures["all_hours"] == 24
    page = (tmp / "public/status/api.kraken.com/index.html").read_text()
    assert "Open 24/7" in page and 'class="shade"' not in page


@pytest.fixture(scope="module")
def session_day(tmp_path_factory):
    """14 hours to 22:00 UTC on 2026-11-25: NYSE from ewr 40 ms slower from 18:15 (in session),
    a spike from fra at 21:45 (after the close), and at 15:45 (a round missing for everyone
    else) a timeout from sin."""
    tmp = tmp_path_factory.mktemp("session_day")
    failed = result_record(NYSE.host, "sin", "icmp", round_ts_of(FixtureSpec(rounds=56),
                                                                 FAILED_ROUND),
                           Measurement((None, None, None, None), error="timeout"))
    fx = make_db(tmp, targets=WITH_NYSE, rounds=56, gap_rounds=(FAILED_ROUND,),
                 extra_records=(failed,), shift=(NYSE.host, "ewr", 40.0, 40),
                 spike=(NYSE.host, "fra", 60.0))
    _build(fx, tmp)
    return fx, tmp


def _hand_figures(db: Path, region: str, end_ts: int) -> dict:
    """The 24 h figures of NYSE's icmp from one region, from the raw results: each hour's median
    of all its received samples, in session when the hour's middle is."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT round_ts, ok, samples_ms FROM results WHERE target = ? AND "
                            "region = ? AND probe = 'icmp'", (NYSE.host, region)).fetchall()
    hours: dict[int, list] = {}
    for round_ts, ok, samples in rows:
        hour = round_ts // HOUR_S * HOUR_S
        if end_ts - 24 * HOUR_S <= hour < end_ts:
            received = [s for s in json.loads(samples) if s is not None]
            hours.setdefault(hour, []).append((ok, received))
    medians = {h: float(np.median(sum((s for _, s in rs), []))) for h, rs in hours.items()
               if any(s for _, s in rs)}
    session = [h for h in hours if NOV25_OPEN <= h + HOUR_S // 2 < NOV25_CLOSE]

    def availability(hs):
        results = [ok for h in hs for ok, _ in hours[h]]
        return sum(results) / len(results)
    return {"session_median_ms": float(np.median([medians[h] for h in session if h in medians])),
            "all_median_ms": float(np.median(list(medians.values()))),
            "session_availability": availability(session), "all_availability": availability(hours),
            "session_hours": len(session)}


def test_in_session_figures_in_the_latency_json_match_a_hand_computation(session_day):
    fx, tmp = session_day
    doc = _json(tmp / "public/api/v1/latency/www.nyse.com.json")["sessions"]
    window = doc["windows"]["24h"]
    assert (doc["probe"], window["end"]) == ("icmp", "2026-11-25T22:00:00Z")
    for region in ("ewr", "fra", "sin"):
        hand = _hand_figures(fx.path, region, fx.round_ts)
        got = window["regions"][region]
        for name, value in hand.items():
            assert got[name] == pytest.approx(value, abs=6e-4), (region, name)
    sin = window["regions"]["sin"]  # 7 session hours of 4 rounds, one of them timed out
    assert (sin["session_availability"], sin["session_hours"]) == (round(27 / 28, 4), 7)
    ewr = window["regions"]["ewr"]  # 40 ms slower for the last 3 of the 7 session hours
    assert 0 < ewr["session_median_ms"] - ewr["all_median_ms"] < 40


def test_the_keyed_file_has_7_and_30_day_windows_counting_the_calendars_session_hours(
        session_day):
    _, tmp = session_day
    assert not any(p.startswith("api/v1/sessions/") for p in _tree(tmp / "public"))
    doc = _json(tmp / "private/api/v1/sessions/www.nyse.com.json")
    assert doc["schema"] == "nettrace.sessions/1" and set(doc["windows"]) == {"24h", "7d", "30d"}
    day, week, month = (doc["windows"][w]["regions"]["sin"] for w in ("24h", "7d", "30d"))
    # Thanksgiving is after the window; the 7 days hold 5 sessions, the 30 days 22 (EDT to
    # 1 November and EST after: each session's 6.5 hours are 7 hourly middles either way)
    assert (week["session_hours"], week["all_hours"]) == (5 * 7, 7 * 24)
    assert (month["session_hours"], month["all_hours"]) == (22 * 7, 30 * 24)
    assert week["session_median_ms"] == day["session_median_ms"]  # data only in the last day
    assert month["session_availability"] == day["session_availability"]


def test_an_event_opened_in_session_carries_in_session_and_one_after_the_close_does_not(
        session_day):
    fx, tmp = session_day
    events = _json(tmp / "private/api/v1/signals/history.json")["signals"]
    nyse = {(e["type"], e["region"], e["probe"]): e for e in events if e["target"] == NYSE.host}
    shift = nyse[("level_shift", "ewr", "icmp")]
    assert shift["started_at"] == "2026-11-25T18:15:00Z" and shift["in_session"] is True
    spikes = [e for k, e in nyse.items() if k[0] == "spike"]
    assert spikes and all(e["started_at"] == "2026-11-25T21:45:00Z" and e["in_session"] is False
                          for e in spikes)
    with sqlite3.connect(fx.path) as conn:
        stored = dict(conn.execute("SELECT id, in_session FROM signals").fetchall())
    assert stored[shift["id"]] == 1 and all(stored[e["id"]] == 0 for e in spikes)


def test_a_carried_session_table_serves_without_the_child_and_gives_the_same_bytes(
        session_day, tmp_path, monkeypatch):
    fx, tmp = session_day

    def no_child(*args):
        raise AssertionError("the session table was built again")

    monkeypatch.setattr(build.read.inputs, "_session_table_child", no_child)
    again = _build(fx, tmp)  # the state carries the table (and 30 days of rollups)
    assert again.signals_stored == 0
    monkeypatch.undo()
    _build(fx, tmp_path, cache=False)  # no state: a table of its own from the child
    for area in ("public", "private"):
        assert _tree(tmp_path / area) == _tree(tmp / area), area


def test_a_catalog_calendar_the_carried_table_lacks_builds_a_new_one(session_day, tmp_path):
    fx, tmp = session_day
    london = replace(fx, catalog=replace(fx.catalog, targets=tuple(
        replace(t, calendar="XLON") if t.host == "www.cmegroup.com" else t
        for t in fx.catalog.targets)))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "state.npz").write_bytes((tmp / "cache" / "state.npz").read_bytes())
    _build(london, tmp_path)
    doc = _json(tmp_path / "public/api/v1/latency/www.cmegroup.com.json")["sessions"]
    assert (doc["calendar"], doc["open"], doc["next_open"]) == ("XLON", False,
                                                                "2026-11-26T08:00:00Z")

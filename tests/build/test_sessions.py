"""Trading sessions from the exchange_calendars package: known dates, 24/7 markets, breaks,
bounded calendars, and in-session statistics against a hand computation."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from build.compute.sessions import (DAY_S, LatencyPoints, MarketState, build_session_table,
                                    compute_session_stats, in_session, market_state,
                                    session_mask, session_spans, session_table_covers,
                                    session_table_from_json, session_table_span,
                                    session_table_to_json)
from collect.records import Target

NEW_YORK, HONG_KONG = ZoneInfo("America/New_York"), ZoneInfo("Asia/Hong_Kong")
NOW = int(datetime(2026, 12, 15, 12, tzinfo=timezone.utc).timestamp())
NYSE = Target("www.nyse.com", "NYSE", "NYSE & Financial", calendar="XNYS")
NASDAQ = Target("api.nasdaq.com", "NASDAQ", "NYSE & Financial", calendar="XNAS")
BINANCE = Target("api.binance.com", "Binance", "Crypto Exchanges")


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
       tz: ZoneInfo | timezone = timezone.utc) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=tz).timestamp())


@pytest.fixture(scope="module")
def table():
    return build_session_table(["XNYS", "XNAS", "XHKG", "CMES", "XBOM", "24/7"],
                               *session_table_span(NOW))


def test_nyse_is_closed_all_of_christmas_day_2026_and_opens_next_on_monday(table):
    day = np.arange(ts(2026, 12, 25, tz=NEW_YORK), ts(2026, 12, 26, tz=NEW_YORK), 60)
    assert not session_mask(table.calendars["XNYS"], day).any()
    assert market_state(table.calendars["XNYS"], ts(2026, 12, 25, 11, tz=NEW_YORK)) == \
        MarketState(False, ts(2026, 12, 28, 9, 30, tz=NEW_YORK), ts(2026, 12, 28, 16, tz=NEW_YORK))


def test_nyse_closes_at_13_00_new_york_time_the_day_after_thanksgiving_2026(table):
    state = market_state(table.calendars["XNYS"], ts(2026, 11, 27, 10, tz=NEW_YORK))
    assert state == MarketState(True, ts(2026, 11, 30, 9, 30, tz=NEW_YORK),
                                ts(2026, 11, 27, 13, tz=NEW_YORK))
    assert not in_session(table, NYSE, ts(2026, 11, 27, 13, tz=NEW_YORK))
    assert in_session(table, NYSE, ts(2026, 11, 27, 12, 59, tz=NEW_YORK))
    assert in_session(table, NYSE, ts(2026, 11, 30, 15, 59, tz=NEW_YORK))  # a full day again


def test_a_crypto_target_is_always_open():
    instants = np.arange(ts(2026, 12, 24), ts(2027, 1, 2), 900)
    assert session_mask(None, instants).all()
    assert market_state(None, ts(2026, 12, 25, 3)) == MarketState(True, None, None)
    empty = build_session_table([], *session_table_span(NOW))
    assert all(in_session(empty, BINANCE, int(t)) for t in instants[::7])
    assert session_spans(None, 100, 200) == ((100, 200),)


def test_an_alias_has_the_sessions_of_the_calendar_it_names(table):
    nasdaq, nyse = table.calendars["XNAS"], table.calendars["XNYS"]
    assert nasdaq.calendar == "XNAS"
    np.testing.assert_array_equal(nasdaq.open_ts, nyse.open_ts)
    assert in_session(table, NASDAQ, ts(2026, 12, 9, 10, tz=NEW_YORK))


def test_the_hong_kong_lunch_break_closes_the_market(table):
    hkex = table.calendars["XHKG"]
    state = market_state(hkex, ts(2026, 12, 9, 12, 30, tz=HONG_KONG))
    assert state == MarketState(False, ts(2026, 12, 9, 13, tz=HONG_KONG),
                                ts(2026, 12, 9, 16, tz=HONG_KONG))
    assert session_spans(hkex, ts(2026, 12, 9, tz=HONG_KONG), ts(2026, 12, 10, tz=HONG_KONG)) == (
        (ts(2026, 12, 9, 9, 30, tz=HONG_KONG), ts(2026, 12, 9, 12, tz=HONG_KONG)),
        (ts(2026, 12, 9, 13, tz=HONG_KONG), ts(2026, 12, 9, 16, tz=HONG_KONG)))


def test_back_to_back_cme_sessions_merge_into_one_week_long_interval(table):
    cme = table.calendars["CMES"]
    chicago = ZoneInfo("America/Chicago")
    state = market_state(cme, ts(2026, 12, 9, 20, tz=chicago))  # a Wednesday evening
    assert state.open and state.next_close_ts == ts(2026, 12, 11, 17, tz=chicago)  # Friday


def test_a_calendar_whose_data_ends_is_unknown_after_its_last_close():
    table = build_session_table(["XBOM"], *session_table_span(ts(2026, 12, 30)))
    bse = table.calendars["XBOM"]
    assert bse.end_ts < table.end_ts  # the package records XBOM's holidays to 2026 only
    assert market_state(bse, ts(2027, 1, 5, 6)) == MarketState(None, None, None)
    assert not in_session(table, Target("api.bseindia.com", "BSE", "X", calendar="XBOM"),
                          ts(2027, 1, 5, 6))
    assert market_state(bse, ts(2026, 12, 30, 6)).open  # 11:30 in Mumbai, a session


def test_in_session_statistics_of_hourly_rollups_match_a_hand_computation(table):
    # Monday 2026-11-23: NYSE is open 14:30-21:00 UTC, so hours 14..20 have their middle in it
    hours = ts(2026, 11, 23) + 3600 * np.arange(24)
    rtt = 10.0 + np.arange(24)
    rtt[18] = np.nan  # an hour without a successful probe
    ok = np.full(24, 4)
    ok[[3, 16, 18]] = [0, 2, 0]
    points = LatencyPoints(3600, hours, rtt, ok, np.full(24, 4))
    stats = compute_session_stats(points, table.calendars["XNYS"], ts(2026, 11, 24), DAY_S)
    session = [24, 25, 26, 27, 29, 30]  # hours 14..20 without 18
    everything = [10 + h for h in range(24) if h != 18]
    assert stats.session_median_ms == (26 + 27) / 2 == np.median(session)
    assert stats.all_median_ms == np.median(everything) == 21.0
    assert stats.session_availability_ratio == (7 * 4 - 2 - 4) / (7 * 4)
    assert stats.all_availability_ratio == (24 * 4 - 4 - 2 - 4) / (24 * 4)
    assert (stats.session_points, stats.all_points, stats.window_s) == (7, 24, DAY_S)


def test_in_session_statistics_of_rounds_use_each_round_and_keep_to_the_window(table):
    rounds = ts(2026, 11, 27, 9, tz=NEW_YORK) + 900 * np.arange(24)  # 09:00 to 14:45 New York
    rtt = np.where(np.arange(24) % 2, 5.0, 7.0)
    points = LatencyPoints(900, rounds, rtt, np.ones(24, dtype=int), np.ones(24, dtype=int))
    stats = compute_session_stats(points, table.calendars["XNYS"], int(rounds[-1]) + 900,
                                  int(rounds[-1]) + 900 - int(rounds[1]))
    # 09:30-13:00 is in session: rounds 2..15 (09:30-12:45), half of them 5 ms, half 7 ms
    assert (stats.session_points, stats.all_points) == (14, 23)
    assert stats.session_median_ms == 6.0 and stats.session_availability_ratio == 1.0
    nothing = compute_session_stats(points, table.calendars["XNYS"], int(rounds[0]), 900)
    assert (nothing.session_median_ms, nothing.all_availability_ratio) == (None, None)


def test_the_table_survives_json_and_anything_else_reads_as_none(table):
    again = session_table_from_json(json.loads(json.dumps(session_table_to_json(table))))
    assert (again.start_ts, again.end_ts) == (table.start_ts, table.end_ts)
    for code, sessions in table.calendars.items():
        np.testing.assert_array_equal(again.calendars[code].close_ts, sessions.close_ts)
        assert again.calendars[code].end_ts == sessions.end_ts
    for bad in (None, {}, {"version": 0}, {"version": 1, "calendars": []}, "x"):
        assert session_table_from_json(bad) is None


def test_a_table_serves_the_builds_of_a_month_then_asks_to_be_built_again(table):
    start, end = session_table_span(NOW)
    assert session_table_span(NOW + 3600) == (start, end)
    assert start % DAY_S == 0 and end - start == 76 * DAY_S
    codes = ["XNYS", "XHKG"]
    assert session_table_covers(table, NOW, codes)
    assert session_table_covers(table, NOW + 29 * DAY_S, codes)
    assert not session_table_covers(table, NOW + 31 * DAY_S, codes)
    assert not session_table_covers(table, NOW - DAY_S, codes)
    assert not session_table_covers(table, NOW, codes + ["XLON"])

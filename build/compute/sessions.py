"""Trading sessions of the targets' markets: is a market open, when does it open or close next,
and a target's latency and availability in session hours next to all hours.

build_session_table(codes, start_ts, end_ts) asks the exchange_calendars package (sessions,
half days, holidays, lunch breaks) once and keeps plain int64 arrays of unix seconds; every other
function is pure numpy over that table. Building it costs ~0.1 s a calendar plus 0.7 s to import
pandas (2 s for the catalog), so a build makes one about once a month (session_table_span, with
room ahead) and carries it (session_table_to_json) while session_table_covers says it serves.
A target without a calendar (crypto, clouds, data services) is open 24/7: its sessions are None.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

import numpy as np

from build.compute.colocation import masked_median
from collect.records import Target

DAY_S = 86400
HISTORY_DAYS = 31  # the keyed API's 30-day window, and the day in progress
LOOKAHEAD_DAYS = 15  # the next open after the longest closure (Golden Week, Lunar New Year)
SPARE_DAYS = 30  # built further ahead, so that one table serves a month of builds
TABLE_VERSION = 1


@dataclass(frozen=True, slots=True, eq=False)
class Sessions:
    """One calendar's open intervals [open_ts[i], close_ts[i]), unix seconds (int64), sorted
    and disjoint: a lunch break splits a session in two, back-to-back sessions (CME's evening
    reopen, 24/5) merge. What it says holds over [start_ts, end_ts) only; outside that span the
    market's state is unknown."""

    calendar: str  # the code as the catalog writes it (an alias such as XNAS stays XNAS)
    start_ts: int
    end_ts: int
    open_ts: np.ndarray
    close_ts: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class SessionTable:
    """Sessions of every calendar the catalog names, over one span of unix seconds."""

    start_ts: int
    end_ts: int
    calendars: dict[str, Sessions]

    def of(self, target: Target) -> Sessions | None:
        """The target's sessions; None for a target open 24/7. KeyError: the table was built
        without the target's calendar."""
        return None if target.calendar is None else self.calendars[target.calendar]


@dataclass(frozen=True, slots=True)
class MarketState:
    """A market at one instant. open is None when the calendar does not cover the instant;
    next_open_ts / next_close_ts (unix s) are None when there is none within the table (24/7
    markets have neither)."""

    open: bool | None
    next_open_ts: int | None
    next_close_ts: int | None


@dataclass(frozen=True, slots=True, eq=False)
class LatencyPoints:
    """One target's measurements over time, columnar: per round (step_s 900) or per hourly
    rollup (step_s 3600). Arrays have one entry per point; or, for compute_rows_session_stats,
    one row of them per series (rtt_ms, ok_count, count) over the shared ts."""

    step_s: int
    ts: np.ndarray  # int64 unix s, the start of each round or hour
    rtt_ms: np.ndarray  # float, the round's median RTT or the hour's median; NaN when none
    ok_count: np.ndarray  # int, successful probes in the point (a round: 0 or 1)
    count: np.ndarray  # int, probes attempted in the point


@dataclass(frozen=True, slots=True)
class SessionStats:
    """Latency and availability over [end_ts - window_s, end_ts) in session hours and over all
    hours. A median is of the points' RTTs (per-round or hourly medians); availability is
    ok_count / count summed over the points. None where no point qualifies."""

    window_s: int
    session_median_ms: float | None
    all_median_ms: float | None
    session_availability_ratio: float | None
    all_availability_ratio: float | None
    session_points: int  # points whose middle falls in a session
    all_points: int


def session_table_span(now_ts: int) -> tuple[int, int]:
    """The span (unix s) to build a table for at now_ts: whole UTC days from HISTORY_DAYS back
    to LOOKAHEAD_DAYS + SPARE_DAYS ahead."""
    day = now_ts - now_ts % DAY_S
    return day - HISTORY_DAYS * DAY_S, day + (LOOKAHEAD_DAYS + SPARE_DAYS) * DAY_S


def session_table_covers(table: SessionTable, now_ts: int, codes: Iterable[str]) -> bool:
    """Whether table answers every question a build at now_ts asks (HISTORY_DAYS back,
    LOOKAHEAD_DAYS ahead) for these calendar codes; if not, build a new one. Answers inside
    that range do not depend on which covering table gave them."""
    day = now_ts - now_ts % DAY_S
    return (table.start_ts <= day - HISTORY_DAYS * DAY_S
            and table.end_ts >= day + (LOOKAHEAD_DAYS + 1) * DAY_S
            and set(codes) <= table.calendars.keys())


def build_session_table(codes: Iterable[str], start_ts: int, end_ts: int) -> SessionTable:
    """The sessions of each calendar code (catalog spelling) within [start_ts, end_ts), unix s.
    A calendar whose package data stops earlier (XBOM's holidays end with 2026) covers less:
    its Sessions.end_ts says how far. Deterministic: the same codes and span give equal arrays."""
    # Imported here: pandas and the calendars take 0.7 s, paid only when a table is built.
    import exchange_calendars
    from pandas.errors import Pandas4Warning

    out: dict[str, Sessions] = {}
    by_name: dict[str, Sessions] = {}
    with warnings.catch_warnings():
        # exchange_calendars 4.13.2 uses APIs pandas 3.1 deprecates for 4.0 (both are pinned)
        warnings.simplefilter("ignore", Pandas4Warning)
        for code in sorted(set(codes)):
            name = exchange_calendars.resolve_alias(code)
            if name not in by_name:
                by_name[name] = _calendar_sessions(exchange_calendars, name, start_ts, end_ts)
            out[code] = replace(by_name[name], calendar=code)
    return SessionTable(start_ts, end_ts, out)


def _calendar_sessions(xcals, name: str, start_ts: int, end_ts: int) -> Sessions:
    # Session dates one day wider than the span: a session labelled D may open on D-1 (CME).
    first, last = _date(start_ts - DAY_S), _date(end_ts + DAY_S)
    known_end = end_ts
    try:
        cal = xcals.get_calendar(name, start=first.isoformat(), end=last.isoformat())
    except ValueError:  # the package's holidays stop before `last`: cover up to its bound
        bound = _bound_max(xcals, name, first)
        if bound is None:
            return _empty(name, start_ts)
        cal = xcals.get_calendar(name, start=first.isoformat(), end=bound.isoformat())
        known_end = None
    opens, closes = _seconds(cal.opens), _seconds(cal.closes)
    breaks, resumes = _seconds(cal.break_starts), _seconds(cal.break_ends)
    has_break = breaks >= 0
    starts = np.concatenate([opens, resumes[has_break]])
    ends = np.concatenate([np.where(has_break, breaks, closes), closes[has_break]])
    order = np.argsort(starts, kind="stable")
    starts, ends = _merge(starts[order], ends[order])
    if known_end is None:  # after the last recorded close nothing is known
        known_end = int(min(end_ts, ends[-1])) if len(ends) else start_ts
    keep = (ends > start_ts) & (starts < known_end)
    return Sessions(name, start_ts, known_end, np.maximum(starts[keep], start_ts),
                    np.minimum(ends[keep], known_end))


def _bound_max(xcals, name: str, first: date) -> date | None:
    """The last date the calendar's data covers, if that is on or after first."""
    try:
        probe = xcals.get_calendar(name, start=first.isoformat(),
                                   end=(first + timedelta(days=14)).isoformat())
    except ValueError:
        return None
    bound = type(probe).bound_max()
    return None if bound is None or bound.date() < first else bound.date()


def _date(ts: int) -> date:
    return datetime.fromtimestamp(ts, timezone.utc).date()


def _seconds(column) -> np.ndarray:
    """A pandas datetime column as int64 unix seconds, -1 for NaT (no break that day)."""
    values = column.to_numpy(dtype="datetime64[ns]")
    return np.where(np.isnat(values), -1, values.astype("datetime64[s]").astype(np.int64))


def _merge(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted intervals with those that touch or overlap joined."""
    if len(starts) == 0:
        return starts, ends
    reach = np.maximum.accumulate(ends)
    new = np.ones(len(starts), dtype=bool)
    new[1:] = starts[1:] > reach[:-1]
    return starts[new], np.maximum.reduceat(ends, np.flatnonzero(new))


def _empty(name: str, start_ts: int) -> Sessions:
    nothing = np.zeros(0, dtype=np.int64)
    return Sessions(name, start_ts, start_ts, nothing, nothing)


def session_mask(sessions: Sessions | None, ts: np.ndarray) -> np.ndarray:
    """Whether each instant (unix s) falls in a session: open <= ts < close. Always True for a
    24/7 market (None); False outside the span the sessions cover."""
    ts = np.asarray(ts, dtype=np.int64)
    if sessions is None:
        return np.ones(ts.shape, dtype=bool)
    i = np.searchsorted(sessions.open_ts, ts, side="right") - 1
    inside = i >= 0
    inside[inside] = ts[inside] < sessions.close_ts[i[inside]]
    return inside


def market_state(sessions: Sessions | None, ts: int) -> MarketState:
    """Open or closed at ts (unix s), and the next open and close after it. A close at the end
    of the covered span is not a real close, so it is reported as unknown (None)."""
    if sessions is None:
        return MarketState(True, None, None)
    if not sessions.start_ts <= ts < sessions.end_ts:
        return MarketState(None, None, None)
    opens, closes = sessions.open_ts, sessions.close_ts
    i = int(np.searchsorted(opens, ts, side="right")) - 1
    is_open = i >= 0 and ts < closes[i]
    nxt = i + 1  # the first interval opening after ts
    next_open = int(opens[nxt]) if nxt < len(opens) else None
    if is_open:
        next_close = int(closes[i])
    else:
        next_close = int(closes[nxt]) if nxt < len(closes) else None
    if next_close is not None and next_close >= sessions.end_ts:
        next_close = None
    return MarketState(bool(is_open), next_open, next_close)


def in_session(table: SessionTable, target: Target, ts: int) -> bool:
    """Whether target's market was open at ts (unix s): for an event's in_session flag. 24/7
    targets always are; an instant the calendar does not cover counts as closed."""
    return bool(session_mask(table.of(target), np.array([ts]))[0])


def session_spans(sessions: Sessions | None, start_ts: int,
                  end_ts: int) -> tuple[tuple[int, int], ...]:
    """The open intervals (unix s) clipped to [start_ts, end_ts): shading for a chart's x axis.
    A 24/7 market is one interval over the whole range."""
    if sessions is None:
        return ((start_ts, end_ts),)
    keep = (sessions.close_ts > start_ts) & (sessions.open_ts < end_ts)
    return tuple((max(int(o), start_ts), min(int(c), end_ts))
                 for o, c in zip(sessions.open_ts[keep], sessions.close_ts[keep]))


def compute_session_stats(points: LatencyPoints, sessions: Sessions | None, end_ts: int,
                          window_s: int) -> SessionStats:
    """In-session and all-hours figures of the points in [end_ts - window_s, end_ts). A point is
    in session when the middle of the round or hour it covers is (an hour half inside a session
    counts as the half its middle falls in)."""
    one_row = LatencyPoints(points.step_s, points.ts, *(np.asarray(a)[None, :] for a in (
        points.rtt_ms, points.ok_count, points.count)))
    return compute_rows_session_stats(one_row, sessions, end_ts, window_s)[0]


def compute_rows_session_stats(points: LatencyPoints, sessions: Sessions | None, end_ts: int,
                               window_s: int) -> tuple[SessionStats, ...]:
    """compute_session_stats of each row of points' 2-D arrays (series x points, one ts): the
    session mask is found once for all of them."""
    ts = np.asarray(points.ts, dtype=np.int64)
    window = (ts >= end_ts - window_s) & (ts < end_ts)
    live = session_mask(sessions, ts + points.step_s // 2) & window
    rtt = np.asarray(points.rtt_ms, dtype=float)
    ok, count = np.asarray(points.ok_count), np.asarray(points.count)
    medians = [_medians(rtt[:, live]), _medians(rtt[:, window])]
    sums = [m.sum(axis=1, dtype=np.int64).tolist() for m in
            (ok[:, live], count[:, live], ok[:, window], count[:, window])]
    return tuple(SessionStats(
        window_s=window_s, session_median_ms=medians[0][i], all_median_ms=medians[1][i],
        session_availability_ratio=_ratio(sums[0][i], sums[1][i]),
        all_availability_ratio=_ratio(sums[2][i], sums[3][i]),
        session_points=int(live.sum()), all_points=int(window.sum()))
        for i in range(rtt.shape[0]))


def _medians(values: np.ndarray) -> list[float | None]:
    """The median of each row's finite values, None for a row without any."""
    if values.shape[1] == 0:
        return [None] * values.shape[0]
    median, n = masked_median(values)
    return [None if k == 0 else m for m, k in zip(median.tolist(), n.tolist())]


def _ratio(ok: int, count: int) -> float | None:
    return ok / count if count else None


def session_table_to_json(table: SessionTable) -> dict:
    """The table as JSON-able data, to carry between builds (session_table_from_json)."""
    return {"version": TABLE_VERSION, "start_ts": table.start_ts, "end_ts": table.end_ts,
            "calendars": {code: {"start_ts": s.start_ts, "end_ts": s.end_ts,
                                 "open_ts": s.open_ts.tolist(), "close_ts": s.close_ts.tolist()}
                          for code, s in table.calendars.items()}}


def session_table_from_json(doc: object) -> SessionTable | None:
    """The table session_table_to_json wrote; None for anything else (then build it again)."""
    try:
        if doc["version"] != TABLE_VERSION:
            return None
        calendars = {code: Sessions(code, int(c["start_ts"]), int(c["end_ts"]),
                                    np.array(c["open_ts"], dtype=np.int64),
                                    np.array(c["close_ts"], dtype=np.int64))
                     for code, c in doc["calendars"].items()}
        return SessionTable(int(doc["start_ts"]), int(doc["end_ts"]), calendars)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


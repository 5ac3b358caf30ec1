"""30- and 90-day history files from hourly rollups, kept between builds as JSON text columns.

Hours before the latest complete one do not change (barring late results, which the pipeline
detects), so a new hour only drops the oldest token of each column and appends the newest
instead of formatting ~2 million floats per target again. Pure: rows in, text out.

Output bytes equal render_json.dump_json of the documents built with aligned_series_doc: the
same envelope with placeholder strings where the columns go, then the columns substituted.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import groupby

import numpy as np

from build.render_json import API, FLOAT_DIGITS, dump_json, envelope, json_floats
from collect.records import iso_utc

HOUR_S = 3600
LONG_WINDOWS_D = (30, 90)
COLUMNS = (("loss", 4), ("p95_ms", FLOAT_DIGITS), ("rtt_ms", FLOAT_DIGITS))  # (name, digits)
_ROW_COLUMN = {"rtt_ms": 0, "p95_ms": 1, "loss": 2}  # in rows after (region, probe, hour)
_SLOT = re.compile(r'"\\u0000(\d+)"')  # a placeholder as dump_json writes it

Key = tuple[str, str]  # (region, probe)


@dataclass(frozen=True, slots=True)
class HistoryText:
    """One target's columns over the windows ending at end_hour (inclusive): per (region,
    probe) that has a rollup in the longest window, per window (days), per COLUMNS name the
    body of its JSON array (comma-joined tokens, one per hour, `null` where no rollup)."""

    end_hour: int
    columns: dict[Key, dict[int, dict[str, str]]]


def history_paths(host: str) -> tuple[str, ...]:
    return tuple(f"{API}/latency/{host}/history-{d}d.json" for d in LONG_WINDOWS_D)


def window_start(end_hour: int, days: int) -> int:
    return end_hour - days * 86400 + HOUR_S


def compute_history_text(rows: list[tuple], end_hour: int) -> HistoryText:
    """From queries.TARGET_HOURLY_COLUMNS rows (region, probe, hour_ts, median, p95, loss)
    ordered by region, probe, hour, covering the longest window up to end_hour."""
    return HistoryText(end_hour, _columns_of(rows, end_hour, {d: d * 24 for d in LONG_WINDOWS_D}))


def slide_history_text(old: HistoryText, rows: list[tuple], end_hour: int) -> HistoryText:
    """old moved on to end_hour (at most the shortest window later): its oldest hours dropped,
    `rows` (hours after old.end_hour, same form as compute_history_text's) appended. A column
    left with no rollup in the longest window goes, as a full computation would drop it."""
    shift = (end_hour - old.end_hour) // HOUR_S
    fresh = _columns_of(rows, end_hour, {d: shift for d in LONG_WINDOWS_D})
    longest = max(LONG_WINDOWS_D)
    out: dict[Key, dict[int, dict[str, str]]] = {}
    for key in sorted(old.columns.keys() | fresh.keys()):
        kept = old.columns.get(key)
        new = fresh.get(key) or _nulls(shift)
        cols = {}
        for days in LONG_WINDOWS_D:
            cols[days] = {name: _tail(kept[days][name], shift) if kept else
                          ",".join(["null"] * (days * 24 - shift)) for name, _ in COLUMNS}
            cols[days] = {name: f"{body},{new[days][name]}" for name, body in cols[days].items()}
        loss = cols[longest]["loss"]
        if loss.count("null") < longest * 24:  # some hour of the window has a rollup
            out[key] = cols
    return HistoryText(end_hour, out)


def count_first_hours(text: HistoryText, hours: int) -> int:
    """Rollups in the first `hours` hours of the longest window (to notice pruned rows)."""
    longest = max(LONG_WINDOWS_D)
    return sum(token != "null" for cols in text.columns.values()
               for token in cols[longest]["loss"].split(",", hours)[:hours])


def render_history_files(host: str, text: HistoryText) -> dict[str, bytes]:
    """history-30d.json and history-90d.json; generated_at is the hour after end_hour."""
    out = {}
    for days, path in zip(LONG_WINDOWS_D, history_paths(host)):
        start = iso_utc(window_start(text.end_hour, days))
        bodies: list[str] = []
        regions: dict[str, dict] = {}
        for (region, probe), cols in text.columns.items():
            doc = {"start": start, "step_s": HOUR_S}
            for name, _ in COLUMNS:
                doc[name] = f"\x00{len(bodies)}"
                bodies.append(cols[days][name])
            regions.setdefault(region, {})[probe] = doc
        doc = envelope("history", text.end_hour + HOUR_S, host=host, window=f"{days}d",
                       regions=regions)
        page = dump_json(doc).decode()
        out[path] = _SLOT.sub(lambda m: f"[{bodies[int(m.group(1))]}]", page).encode()
    return out


def _columns_of(rows: list[tuple], end_hour: int,
                lengths: dict[int, int]) -> dict[Key, dict[int, dict[str, str]]]:
    """Per (region, probe) of rows, per window: the last lengths[days] hours up to end_hour."""
    out = {}
    for key, group in groupby(rows, key=lambda r: (r[0], r[1])):
        items = list(group)
        hours = np.array([r[2] for r in items], dtype=np.int64)
        cols = {}
        for days, n in lengths.items():
            idx = (hours - (end_hour - (n - 1) * HOUR_S)) // HOUR_S
            keep = (idx >= 0) & (idx < n)
            cols[days] = {name: _body(items, idx, keep, n, name, digits)
                          for name, digits in COLUMNS}
        out[key] = cols
    return out


def _body(items: list[tuple], idx: np.ndarray, keep: np.ndarray, n: int, name: str,
          digits: int) -> str:
    values = np.array([np.nan if r[3 + _ROW_COLUMN[name]] is None else r[3 + _ROW_COLUMN[name]]
                       for r in items], dtype=float)
    grid = np.full(n, np.nan)
    grid[idx[keep]] = values[keep]
    return json.dumps(json_floats(grid, digits), separators=(",", ":"))[1:-1]


def _nulls(n: int) -> dict[int, dict[str, str]]:
    return {days: {name: ",".join(["null"] * n) for name, _ in COLUMNS} for days in LONG_WINDOWS_D}


def _tail(body: str, drop: int) -> str:
    """body without its first `drop` tokens."""
    return body.split(",", drop)[drop]

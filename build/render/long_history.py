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

import numpy as np
import orjson

from build.render.json_api import API, FLOAT_DIGITS, dump_json, envelope, json_floats
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
    recent = _columns_of(rows, end_hour, {0: shift})  # the same hours for every window
    fresh = {key: {days: cols[0] for days in LONG_WINDOWS_D} for key, cols in recent.items()}
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


def parse_history_files(host: str, pages: dict[int, str], end_hour: int) -> HistoryText | None:
    """The columns of render_history_files' pages (by window days) for host ending at end_hour,
    so the next build slides them on without storing them twice; None when a page is not that
    output (another host or hour, damaged, another layout)."""
    columns: dict[Key, dict[int, dict[str, str]]] = {}
    for days, page in pages.items():
        try:
            doc, bodies = _cut_columns(page)
            if doc != envelope("history", end_hour + HOUR_S, host=host, window=f"{days}d",
                               regions=doc["regions"]):
                return None
            series = [(r, p, s) for r, probes in doc["regions"].items() for p, s in probes.items()]
            if len(COLUMNS) * len(series) != len(bodies):
                return None
            for i, (region, probe, doc_series) in enumerate(series):
                cols = _parsed_columns(doc_series, bodies, i * len(COLUMNS),
                                       window_start(end_hour, days), days)
                columns.setdefault((region, probe), {})[days] = cols
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
    if any(windows.keys() != pages.keys() for windows in columns.values()):
        return None
    return HistoryText(end_hour, columns)


def _cut_columns(page: str) -> tuple[dict, list[str]]:
    """page parsed with each column body cut out: the n-th array replaced by n, bodies[n]. The
    bodies are found with str.find (a regex over ~150 MB of pages took ~1 s)."""
    parts, bodies, at = [], [], 0
    while (start := page.find("[", at)) >= 0:
        end = page.find("]", start)
        if end < 0:
            raise ValueError("an array is not closed")
        parts += [page[at:start], str(len(bodies))]
        bodies.append(page[start + 1:end])
        at = end + 1
    parts.append(page[at:])
    return json.loads("".join(parts)), bodies


def _parsed_columns(series: dict, bodies: list[str], first: int, start_ts: int,
                    days: int) -> dict[str, str]:
    """series' columns: they must be bodies[first:] in COLUMNS order (the page's key order)."""
    names = [name for name, _ in COLUMNS]
    if series != {"start": iso_utc(start_ts), "step_s": HOUR_S,
                  **{name: first + i for i, name in enumerate(names)}}:
        raise ValueError("not a history series")
    cols = dict(zip(names, bodies[first:first + len(names)]))
    if any(body.count(",") + 1 != days * 24 for body in cols.values()):
        raise ValueError("a column of another length")
    return cols


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
    keys = list(dict.fromkeys((r[0], r[1]) for r in rows))
    position = {k: i for i, k in enumerate(keys)}
    row_key = np.array([position[(r[0], r[1])] for r in rows], dtype=np.int64)
    hours = np.array([r[2] for r in rows], dtype=np.int64)
    values = {name: np.array([np.nan if r[3 + i] is None else r[3 + i] for r in rows], dtype=float)
              for name, i in _ROW_COLUMN.items()}
    out: dict[Key, dict[int, dict[str, str]]] = {k: {} for k in keys}
    for days, n in lengths.items():
        slot = (hours - (end_hour - (n - 1) * HOUR_S)) // HOUR_S
        keep = (slot >= 0) & (slot < n)
        for name, digits in COLUMNS:
            grid = np.full((len(keys), n), np.nan)  # one row per key: formatted in one go
            grid[row_key[keep], slot[keep]] = values[name][keep]
            tokens = json_floats(grid.ravel(), digits)
            for i, key in enumerate(keys):
                out[key].setdefault(days, {})[name] = _dump_body(tokens[i * n:(i + 1) * n])
    return out


def _dump_body(tokens: list[float | None]) -> str:
    return orjson.dumps(tokens)[1:-1].decode()  # as dump_json writes them


def _nulls(n: int) -> dict[int, dict[str, str]]:
    return {days: {name: ",".join(["null"] * n) for name, _ in COLUMNS} for days in LONG_WINDOWS_D}


def _tail(body: str, drop: int) -> str:
    """body without its first `drop` tokens."""
    return body.split(",", drop)[drop]

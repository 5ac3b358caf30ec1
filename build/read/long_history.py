"""What the 30- and 90-day history files need from the database and from the previous build.

A target's columns slide on from the previous build's own files when the state's history part
says they are that build's, no results arrived late for its completed hours (a rowid range
tells) and retention did not prune the oldest hours of its window; otherwise its rollups are
read whole. The whole history (up to 4.5M rollups for 100 targets) is never held at once:
LongHistoryInput hands render one target at a time through loaders bound to this stage's
connection and to the previous output files, so memory stays flat."""
from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from build.read.queries import (count_hourly, read_dirty_hour, read_hours, read_late_targets,
                                read_target_hourly)
from build.read.state import Checkpoint, Part
from build.render.long_history import (HOUR_S, LONG_WINDOWS_D, HistoryText, history_paths,
                                       parse_history_files, window_start)

PRUNE_CHECK_HOURS = 2  # retention deletes the oldest rollups: these first hours are recounted


@dataclass(frozen=True, slots=True)
class TargetHistory:
    host: str
    previous: dict | None  # the previous build's entry (key, first) when it may be reused
    same_hour: bool  # the previous build ended at the same hour
    fresh: list[tuple]  # rollups after the previous end hour (region, probe, hour, ...)
    first: int  # rollups in the first PRUNE_CHECK_HOURS hours of the longest window now
    load_previous: Callable[[int], HistoryText | None]  # the previous files' columns at an hour
    read_all: Callable[[], list[tuple]]  # the target's rollups over the longest window


@dataclass(frozen=True, slots=True)
class LongHistoryInput:
    end_hour: int
    previous_end_hour: int | None
    targets: tuple[TargetHistory, ...]
    pending: bool  # rollups up to end_hour still await a refresh: do not carry the columns


def read_long_history(conn: sqlite3.Connection, hosts: list[str], round_ts: int,
                      before: Checkpoint | None, carried: Part | None,
                      previous_private: Path | None) -> LongHistoryInput:
    end_hour = round_ts // HOUR_S * HOUR_S - HOUR_S
    start = window_start(end_hour, max(LONG_WINDOWS_D))
    prev = None if previous_private is None else _usable(carried, before, end_hour)
    late = read_late_targets(conn, before.rowid, prev["end_hour"] + HOUR_S) if prev else set()
    first = count_hourly(conn, start, start + PRUNE_CHECK_HOURS * HOUR_S)
    fresh = _rows_by_target(read_hours(conn, prev["end_hour"], end_hour)) if (
        prev and prev["end_hour"] < end_hour) else {}
    targets = []
    for host in hosts:
        entry = (prev or {}).get("targets", {}).get(host)
        files = tuple(Path(previous_private or ".") / p for p in history_paths(host))
        targets.append(TargetHistory(
            host, entry if prev is not None and host not in late else None,
            prev is not None and prev["end_hour"] == end_hour, fresh.get(host, []),
            first.get(host, 0), lambda hour, host=host, files=files: _load(files, host, hour),
            lambda host=host: read_target_hourly(conn, host, start, end_hour)))
    dirty = read_dirty_hour(conn)
    return LongHistoryInput(end_hour, prev["end_hour"] if prev else None, tuple(targets),
                            dirty is not None and dirty <= end_hour)


def _usable(carried: Part | None, before: Checkpoint | None, end_hour: int) -> dict | None:
    """The previous build's history part when end_hour is at most the shortest window later
    and its columns were made from refreshed rollups; else None (every target computed)."""
    index = None if carried is None or before is None else carried.meta
    if not index or "end_hour" not in index or index.get("pending"):
        return None
    shift_h = (end_hour - index["end_hour"]) // HOUR_S
    return index if 0 <= shift_h < min(LONG_WINDOWS_D) * 24 else None


def _load(files: tuple[Path, ...], host: str, end_hour: int) -> HistoryText | None:
    """The columns in host's previous history files if they end at end_hour, else None."""
    try:
        pages = {days: path.read_text() for days, path in zip(LONG_WINDOWS_D, files)}
    except (OSError, UnicodeDecodeError):
        return None
    return parse_history_files(host, pages, end_hour)


def _rows_by_target(rows: list[tuple]) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = defaultdict(list)
    for target, group in groupby(rows, key=lambda r: r[0]):
        out[target] = [r[1:] for r in group]
    return out

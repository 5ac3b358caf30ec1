"""The 30- and 90-day history outputs of a build. A target's columns are slid on from the
previous build's files (history_store) unless results arrived late for its completed hours (a
rowid range tells) or retention pruned the oldest hours of its window; then they are computed
from the database. Files whose columns did not change are reused (hard-linked)."""
from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from build.read.cache import CACHE_VERSION, OutputCache, digest
from build.read.history_state import load_history_index, load_history_text, save_history_index
from build.render.long_history import (HOUR_S, LONG_WINDOWS_D, HistoryText, compute_history_text,
                                count_first_hours, history_paths, render_history_files,
                                slide_history_text, window_start)
from build.read.queries import (count_hourly, read_dirty_hour, read_hours, read_last_row,
                           read_late_targets, read_row_identity, read_target_hourly)
from build.write import Output

PRUNE_CHECK_HOURS = 2  # retention deletes the oldest rollups: these first hours are recounted


@dataclass(frozen=True, slots=True)
class LongHistories:
    outputs: dict[str, Output]
    index: dict | None  # to store once the outputs are in place (None: no cache)


def build_long_histories(conn: sqlite3.Connection, hosts: list[str], round_ts: int,
                         cache: OutputCache, cache_dir: Path | None) -> LongHistories:
    end_hour = round_ts // HOUR_S * HOUR_S - HOUR_S
    start = window_start(end_hour, max(LONG_WINDOWS_D))
    last = read_last_row(conn)
    prev = _usable_index(conn, cache_dir, end_hour)
    late = read_late_targets(conn, prev["rowid"], prev["end_hour"] + HOUR_S) if prev else set()
    first = count_hourly(conn, start, start + PRUNE_CHECK_HOURS * HOUR_S)
    fresh = _rows_by_target(read_hours(conn, prev["end_hour"], end_hour)) if (
        prev and prev["end_hour"] < end_hour) else {}
    outputs: dict[str, Output] = {}
    entries = {}
    for host in hosts:
        entry = (prev or {}).get("targets", {}).get(host)
        reusable = prev is not None and host not in late and entry is not None
        files = tuple(cache.previous_file("private", p) for p in history_paths(host))

        def compute(host=host) -> HistoryText:
            return compute_history_text(read_target_hourly(conn, host, start, end_hour), end_hour)

        if reusable and prev["end_hour"] == end_hour and entry["first"] == first.get(host, 0):
            stored = lambda host=host, files=files: (  # noqa: E731
                load_history_text(files, host, end_hour) or compute(host))
            outputs |= cache.get_or_render_many("private", history_paths(host), entry["key"],
                                                lambda s=stored, host=host: (
                                                    render_history_files(host, s())))
            entries[host] = entry
            continue
        text = None
        if reusable and prev["end_hour"] < end_hour:
            old = load_history_text(files, host, prev["end_hour"])
            if old is not None:
                text = slide_history_text(old, fresh.get(host, []), end_hour)
                if count_first_hours(text, PRUNE_CHECK_HOURS) != first.get(host, 0):
                    text = None
        text = text or compute()
        key = digest(CACHE_VERSION, host, end_hour, last[0] if last else 0)
        outputs |= cache.get_or_render_many("private", history_paths(host), key,
                                            lambda text=text, host=host: (
                                                render_history_files(host, text)))
        entries[host] = {"key": key, "first": count_first_hours(text, PRUNE_CHECK_HOURS)}
    dirty = read_dirty_hour(conn)  # rollups still to be refreshed: the columns may change
    index = None if cache_dir is None or last is None else {
        "end_hour": end_hour, "rowid": last[0], "identity": last[1], "targets": entries,
        "pending": dirty is not None and dirty <= end_hour}
    return LongHistories(outputs, index)


def store_long_histories(cache_dir: Path | None, histories: LongHistories) -> None:
    """Record the index (after the outputs are written: it names their keys)."""
    if cache_dir is not None and histories.index is not None:
        save_history_index(cache_dir, histories.index)


def _usable_index(conn: sqlite3.Connection, cache_dir: Path | None, end_hour: int) -> dict | None:
    """The previous build's index when this database continues it and end_hour is at most the
    shortest window later; else None (every target computed)."""
    index = load_history_index(cache_dir) if cache_dir is not None else None
    if index is None or not all(k in index for k in ("end_hour", "rowid", "identity")):
        return None
    if index.get("pending"):  # its columns were made before pending rollups were refreshed
        return None
    shift_h = (end_hour - index["end_hour"]) // HOUR_S
    if not 0 <= shift_h < min(LONG_WINDOWS_D) * 24:
        return None
    if read_row_identity(conn, index["rowid"]) != index["identity"]:
        return None
    return index


def _rows_by_target(rows: list[tuple]) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = defaultdict(list)
    for target, group in groupby(rows, key=lambda r: r[0]):
        out[target] = [r[1:] for r in group]
    return out

"""Hourly folds kept in the ingest writer's memory, so its coalesced refresh computes dirty
hours from what it already holds instead of re-reading every row of them from `results`.

A (region, hour) fold is read from the database the first time a write touches it (its rows
so far, the new ones included) and is then fed the rows each later write stores. It is only
trusted while this connection is the only one writing: a commit by any other connection
(PRAGMA data_version moves) empties it, and so does a rollback or a batch stored in part.
"""
from __future__ import annotations

import sqlite3
from collections import OrderedDict

from ingest.rollup import HourSamples, Key, fold_rows, hour_of, hourly_row, read_hour
from collect.records import COLUMNS

RegionHour = tuple[str, int]
_OK, _SAMPLES = COLUMNS.index("ok"), COLUMNS.index("samples_ms")


class LiveRollups:
    """The folds of the max_hours (region, hour) pairs written to last."""

    def __init__(self, max_hours: int = 32):
        self.max_hours = max_hours
        self.folds: OrderedDict[RegionHour, dict[Key, HourSamples]] = OrderedDict()
        self.version: int | None = None

    def begin(self, conn: sqlite3.Connection) -> None:
        """Call first in each write transaction: forget everything if another connection
        committed since the last call."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self.version:
            self.folds.clear()
            self.version = version

    def stored(self, conn: sqlite3.Connection, rows: list[tuple], stored: int) -> None:
        """rows (records.COLUMNS order) were just inserted, stored of them new."""
        if stored == 0:
            return
        touched = {(r[1], hour_of(r[3])) for r in rows}
        held = {rh for rh in touched if rh in self.folds} if stored == len(rows) else set()
        for region_hour in held:
            self.folds.move_to_end(region_hour)
            fold_rows([(r[0], r[1], r[2], region_hour[1], r[_OK], r[_SAMPLES]) for r in rows
                       if len(touched) == 1 or (r[1], hour_of(r[3])) == region_hour],
                      self.folds[region_hour])
        # New to memory, or which rows were duplicates is unknown: read the hour back.
        for region_hour in touched - held:
            self._load(conn, region_hour)

    def hourly_rows(self, conn: sqlite3.Connection, dirty: list[RegionHour]) -> list[tuple]:
        """The hourly table's rows of the dirty (region, hour) pairs."""
        rows = []
        for region_hour in dirty:
            fold = self.folds.get(region_hour)
            if fold is None:
                fold = self._load(conn, region_hour)
            rows.extend(hourly_row(key, hour) for key, hour in fold.items())
        return rows

    def clear(self) -> None:
        self.folds.clear()

    def _load(self, conn: sqlite3.Connection, region_hour: RegionHour) -> dict[Key, HourSamples]:
        fold = read_hour(conn, *region_hour)
        self.folds.pop(region_hour, None)
        self.folds[region_hour] = fold
        while len(self.folds) > self.max_hours:
            self.folds.popitem(last=False)
        return fold


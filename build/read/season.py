"""The rollups the event detector's same-hour-of-week baseline needs (the window's hours 1 to 4
weeks back, ~110 hours of every series), carried between builds in the build state: a build
reads only the hours it did not carry (about 4 when an hour passes), and again the hours that
results stored since the checkpoint or a pending rollup refresh may have changed."""
from __future__ import annotations

import sqlite3

import numpy as np

from build.compute.detector_input import HourValues
from build.read.codes import join_codes
from build.read.queries import read_dirty_hour, read_hour_values, read_late_hours
from build.read.state import Checkpoint, Part

HOUR_S = 3600


def read_season(conn: sqlite3.Connection, hours: list[int], before: Checkpoint | None,
                carried: Part | None) -> tuple[HourValues, Part]:
    """The rollups at hours, and the season's part of the state."""
    old = None if before is None or carried is None else _unpack(carried)
    kept = HourValues.empty()
    if old is not None and hours:
        stale = read_late_hours(conn, before.rowid, max(hours) + HOUR_S)
        dirty = read_dirty_hour(conn)
        keep = np.isin(old.hour_ts, hours) & ~np.isin(old.hour_ts, sorted(stale))
        if dirty is not None:
            keep &= old.hour_ts < dirty
        kept = old.take(keep)
    missing = sorted(set(hours) - set(np.unique(kept.hour_ts).tolist()))
    values = _concat(kept, read_hour_values(conn, missing)) if missing else kept
    return values, _part(values)


def _concat(a: HourValues, b: HourValues) -> HourValues:
    keys, key_index = join_codes([(a.keys, a.key_index), (b.keys, b.key_index)], np.int64)
    return HourValues(keys, key_index, np.concatenate([a.hour_ts, b.hour_ts]),
                      np.concatenate([a.median_ms, b.median_ms]),
                      np.concatenate([a.loss_ratio, b.loss_ratio]))


def _unpack(part: Part) -> HourValues | None:
    try:
        a = part.arrays
        return HourValues(tuple(tuple(k) for k in part.meta["keys"]), a["key_index"],
                          a["hour_ts"], a["median_ms"], a["loss_ratio"])
    except (KeyError, TypeError, ValueError):
        return None


def _part(v: HourValues) -> Part:
    return Part({"keys": [list(k) for k in v.keys]},
                {"key_index": v.key_index, "hour_ts": v.hour_ts, "median_ms": v.median_ms,
                 "loss_ratio": v.loss_ratio})

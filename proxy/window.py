"""Pure cuts of the build's JSON: a history window by time, a comparison by targets.

The build writes series as rows (a list of objects with "ts"), as columns with a "ts" list, or
as regular columns (an object with "start" and "step_s" whose lists hold one value per step);
all are cut the same way. Times are unix seconds or ISO 8601 UTC strings.
"""
from __future__ import annotations

import math
from datetime import datetime

from collect.records import iso_utc

TIME_KEYS = ("ts", "round_ts", "hour_ts", "started_at")  # started_at: a signal event's onset
TARGET_KEYS = ("host", "target")


def to_unix_s(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _time_of(item) -> float | None:
    if isinstance(item, dict):
        return next((to_unix_s(item[k]) for k in TIME_KEYS if k in item), None)
    return None


def cut_since(doc, since_s: float):
    """doc with every time series holding only points after since_s (unix s): the window
    (since_s, end], as the build writes its own files."""
    if isinstance(doc, list):
        if doc and all(_time_of(i) is not None for i in doc):
            return [cut_since(i, since_s) for i in doc if _time_of(i) > since_s]
        return [cut_since(i, since_s) for i in doc]
    if not isinstance(doc, dict):
        return doc
    if "start" in doc and isinstance(doc.get("step_s"), int) and doc["step_s"] > 0:
        return _cut_regular(doc, since_s)
    column = next((doc[k] for k in TIME_KEYS if isinstance(doc.get(k), list)), None)
    if column is not None:
        keep = [i for i, t in enumerate(column) if (to_unix_s(t) or 0) > since_s]
        n = len(column)
        return {k: ([v[i] for i in keep] if isinstance(v, list) and len(v) == n else
                    cut_since(v, since_s)) for k, v in doc.items()}
    return {k: cut_since(v, since_s) for k, v in doc.items()}


def _cut_regular(doc: dict, since_s: float) -> dict:
    """A regular series (value i at start + i * step_s) from its first step after since_s."""
    start_s, step_s = to_unix_s(doc["start"]), doc["step_s"]
    if start_s is None:
        return doc
    skip = max(0, math.floor((since_s - start_s) / step_s) + 1)
    lengths = [len(v) for v in doc.values() if isinstance(v, list)]
    n = max(lengths, default=0)
    new_start = start_s + skip * step_s
    out = {k: (v[skip:] if isinstance(v, list) and len(v) == n else v) for k, v in doc.items()}
    out["start"] = (iso_utc(new_start) if isinstance(doc["start"], str) else
                    type(doc["start"])(new_start))
    return out


def reference_s(doc) -> float | None:
    """The time a window ends at: the file's generated_at (not the wall clock, so a cut is
    reproducible)."""
    return to_unix_s(doc.get("generated_at")) if isinstance(doc, dict) else None


def _target_of(item) -> str | None:
    if isinstance(item, dict):
        return next((item[k] for k in TARGET_KEYS if isinstance(item.get(k), str)), None)
    return None


def pick_targets(doc, hosts: frozenset[str]):
    """doc keeping, in every list of per-target objects and every object keyed by host, only
    the hosts asked for."""
    if isinstance(doc, list):
        if doc and all(_target_of(i) is not None for i in doc):
            return [pick_targets(i, hosts) for i in doc if _target_of(i) in hosts]
        return [pick_targets(i, hosts) for i in doc]
    if not isinstance(doc, dict):
        return doc
    if hosts & doc.keys() and all("." in k for k in doc):  # an object keyed by host name
        return {k: pick_targets(v, hosts) for k, v in doc.items() if k in hosts}
    return {k: pick_targets(v, hosts) for k, v in doc.items()}


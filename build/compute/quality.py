"""The signal feed's quality, as its users meet it: the detector's measured false-alarm rates
and detection power (bench/signals.py writes them, with the detector version and the date), and
live figures from the stored events: events per series-week by type, their median duration and
the share seen from 4 or more regions. Pure."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from build.compute.events import TYPES, Event

WEEK_S = 7 * 86400


@dataclass(frozen=True, slots=True)
class LiveQuality:
    type: str
    events: int
    per_series_week: float | None  # None: no series measured
    median_duration_s: float | None  # over resolved events; None when none resolved
    global_share: float | None  # None when there is no event


@dataclass(frozen=True, slots=True)
class SignalQuality:
    measured: dict | None  # bench/results/signal_quality.json as written, None when absent
    live_since_ts: int
    live_until_ts: int
    series: int  # (target, region, probe) series the detector judged
    live: tuple[LiveQuality, ...]  # one per type


def compute_signal_quality(events: tuple[Event, ...], measured: dict | None, series: int,
                           since_ts: int, until_ts: int) -> SignalQuality:
    """Live figures over the events that began in [since_ts, until_ts]."""
    weeks = max(until_ts - since_ts, 1) / WEEK_S
    live = []
    for kind in TYPES:
        of_type = [e for e in events if e.type == kind and since_ts <= e.started_at <= until_ts]
        spans = [e.ended_at - e.started_at for e in of_type if e.ended_at is not None]
        live.append(LiveQuality(
            kind, len(of_type), len(of_type) / (series * weeks) if series else None,
            float(np.median(spans)) if spans else None,
            sum(e.scope == "global" for e in of_type) / len(of_type) if of_type else None))
    return SignalQuality(measured, since_ts, until_ts, series, tuple(live))

"""The site model: everything the renderers (JSON, Prometheus, badges, HTML) need, as plain
frozen dataclasses. One SiteModel per build; renderers are `render_*(model) -> {path: bytes}`.

Times are unix seconds (int), RTTs milliseconds, loss a 0..1 ratio. Missing figures are None,
never NaN, but in a Series' numpy columns. Fields are only ever added, never renamed (build/render/html.py reads this).
`build/compute/assemble.py` builds the model from the database.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from build.compute.colocation import ColocationAdvice
from build.compute.events import Event
from build.compute.quality import SignalQuality
from build.compute.session_figures import TargetSessions
from collect.records import Hop

MODEL_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class ProbeFigures:
    """The latest result of one probe from one region."""

    probe: str
    round_ts: int
    ok: bool
    rtt_ms: float | None  # median of the received samples
    min_ms: float | None
    p95_ms: float | None
    max_ms: float | None
    jitter_ms: float | None
    loss_ratio: float
    error: str | None


@dataclass(frozen=True, slots=True)
class Series:
    """One probe's time series from one region, as numpy columns (as Python floats the model's
    24 h series held ~30 MB); NaN where a point has no RTT (render through optional_floats)."""

    probe: str
    step_s: int  # 900: the 24 h series of rounds
    ts: np.ndarray  # int64 unix s
    rtt_ms: np.ndarray  # float64 rounded to 3 decimals: per-round median, or the hour's median
    p95_ms: np.ndarray  # float64 rounded to 3 decimals
    loss_ratio: np.ndarray  # float64


@dataclass(frozen=True, slots=True)
class RouteChange:
    ts: int  # the round the new route was confirmed (it persisted ROUTE_PERSIST_ROUNDS)
    old_fingerprint: str
    new_fingerprint: str
    old_hops: tuple[str, ...]  # responding hop addresses, '*' for a silent hop
    new_hops: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Route:
    """The current traceroute of a target from one region and its change history."""

    round_ts: int
    fingerprint: str | None
    hops: tuple[Hop, ...]
    changes: tuple[RouteChange, ...]  # oldest first


@dataclass(frozen=True, slots=True)
class TargetRegion:
    """One target as seen from one region."""

    region: str
    stale: bool  # the region's latest round is missing or late: figures are old
    latest: tuple[ProbeFigures, ...]  # one per probe, probe order of records.PROBES
    series_24h: tuple[Series, ...]
    route: Route | None
    badge_svg: str  # path relative to public/


@dataclass(frozen=True, slots=True)
class Cert:
    expires: str | None  # ISO 8601 UTC
    issuer: str | None
    days_left: float | None  # at generated_at
    region: str
    round_ts: int


@dataclass(frozen=True, slots=True)
class Best:
    """The best (lowest) current RTT of a target over fresh regions."""

    region: str
    probe: str
    rtt_ms: float


@dataclass(frozen=True, slots=True)
class TargetView:
    host: str
    name: str
    category: str
    category_slug: str
    port: int
    has_data: bool
    regions: tuple[TargetRegion, ...]  # catalog region order, every region present
    best: Best | None
    cert: Cert | None
    events: tuple[Event, ...]  # this target's open events and those resolved in the last 24 h
    open_events: int  # how many of them are open (the public pages show only this)
    badge_svg: str  # paths relative to public/
    badge_png: str
    badge_json: str
    sessions: TargetSessions | None = None  # its market's state and session figures


@dataclass(frozen=True, slots=True)
class RegionStatus:
    code: str
    city: str
    note: str
    lat: float
    lon: float
    last_round_ts: int | None
    stale: bool
    reason: str | None  # "never reported" | "missed the latest round" | "round late"


@dataclass(frozen=True, slots=True)
class Category:
    slug: str
    name: str
    hosts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RankingEntry:
    host: str
    name: str
    probe: str
    rtt_ms: float


@dataclass(frozen=True, slots=True)
class Ranking:
    """Fastest first, per region, over fresh figures only; category_slug "all" for everyone."""

    category_slug: str
    region: str
    entries: tuple[RankingEntry, ...]


@dataclass(frozen=True, slots=True)
class SiteModel:
    schema: int
    generated_at: int  # unix s: the latest round (or SOURCE_DATE_EPOCH)
    round_ts: int | None  # the latest round in the database, None when it is empty
    targets: tuple[TargetView, ...]  # catalog order
    regions: tuple[RegionStatus, ...]
    categories: tuple[Category, ...]
    rankings: tuple[Ranking, ...]
    events: tuple[Event, ...]  # open events and those resolved in the last 24 h, newest first
    event_history: tuple[Event, ...]  # events of the last 90 days, newest onset first
    colocation: ColocationAdvice | None  # where to host, over the 7 days to the last whole hour
    quality: SignalQuality  # the signal feed's measured and live quality
    skipped: tuple[str, ...]  # what the build left out and why, one line each

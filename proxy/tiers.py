"""The one table of tier limits: what each tier may call, how often and how far back."""
from __future__ import annotations

from dataclasses import dataclass

HOUR_S = 3600
DAY_S = 24 * HOUR_S

# Features an endpoint may require; a tier grants a set of them.
LATENCY, RANKINGS, ROUTES, SIGNALS, COMPARE, EXPORT, STREAM = (
    "latency", "rankings", "routes", "signals", "compare", "export", "stream")


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    calls_per_day: int | None  # None: unlimited (still counted for `keys usage`)
    history_hours: int
    features: frozenset[str]


_FREE = frozenset({LATENCY, RANKINGS})
_PRO = _FREE | {ROUTES, SIGNALS, COMPARE}
_ENTERPRISE = _PRO | {EXPORT, STREAM}

# Ordered cheapest first: the first tier granting a feature is the one a 403 names.
TIERS: dict[str, Tier] = {
    t.name: t
    for t in (
        Tier("free", calls_per_day=100, history_hours=24, features=_FREE),
        Tier("pro", calls_per_day=10_000, history_hours=30 * 24, features=_PRO),
        Tier("enterprise", calls_per_day=None, history_hours=90 * 24, features=_ENTERPRISE),
    )
}


def tier_for_feature(feature: str) -> Tier:
    """The cheapest tier that grants feature (KeyError for an unknown feature)."""
    return next(t for t in TIERS.values() if feature in t.features)


MAX_HISTORY_HOURS = max(t.history_hours for t in TIERS.values())

"""route_change: the trace fingerprint of a (target, region) differs from the previous stable
one and persists, so a load balancer flapping between two paths does not fire. Pure.

Rounds without a fingerprint (failed trace) neither confirm nor break a run.
"""
from __future__ import annotations

from dataclasses import dataclass

ROUTE_PERSIST_ROUNDS = 2


@dataclass(frozen=True, slots=True)
class RouteEvent:
    ts: int  # the round the new fingerprint was confirmed on
    old_fingerprint: str
    new_fingerprint: str
    old_round_ts: int  # the last round the old route was seen (to look up its hops)


def compute_route_changes(rounds_ts: list[int], fingerprints: list[str | None],
                          persist: int = ROUTE_PERSIST_ROUNDS) -> list[RouteEvent]:
    """Route changes over rounds (oldest first). The first fingerprint seen `persist` rounds in
    a row is the stable route; a later one seen `persist` rounds in a row replaces it."""
    events: list[RouteEvent] = []
    stable: str | None = None
    stable_seen = 0
    run_fp: str | None = None
    run_len = 0
    for ts, fp in zip(rounds_ts, fingerprints):
        if fp is None:
            continue
        run_len = run_len + 1 if fp == run_fp else 1
        run_fp = fp
        if fp == stable:
            stable_seen = ts
            continue
        if run_len >= persist:
            if stable is not None:
                events.append(RouteEvent(ts, stable, fp, stable_seen))
            stable, stable_seen = fp, ts
    return events


"""Route changes from trace fingerprints on a Panel's window, vectorised over (target, region)
pairs. Pure.

A fingerprint is new when the baseline (changes.baseline_span) never saw
it, so ECMP or anycast flapping among known paths changes nothing. A route change is a run of
new fingerprints ending at the latest traced round; it opens once ROUTE_PERSIST_ROUNDS traced
rounds are new (one suffices to join an RTT change of the same pair). Rounds without a
fingerprint (a failed trace) neither extend nor break a run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from build.compute.changes import MIN_BASELINE, baseline_span
from build.compute.panel import NO_ROUTE

ROUTE_PERSIST_ROUNDS = 3  # an RTT change (3 rounds at least) joins it before it opens
ROUTE_BACK_ROUNDS = 2  # traced rounds back on known paths resolve it


@dataclass(frozen=True, slots=True)
class RouteWindow:
    new_rounds: np.ndarray  # [n_routes] traced rounds in the latest run of new fingerprints
    onset: np.ndarray  # [n_routes] column of the run's first round (-1 without a run)
    old_code: np.ndarray  # [n_routes] the last fingerprint before the run (NO_ROUTE: none)
    new_code: np.ndarray  # [n_routes] the fingerprint the run began with


def compute_route_window(codes: np.ndarray, round_ts: np.ndarray,
                         memo: dict | None = None) -> RouteWindow:
    """memo: as changes.compute_rtt_window's (the same results without it)."""
    n_routes = codes.shape[0]
    start, split = baseline_span(round_ts)
    base, tail = codes[:, start:split], codes[:, split:]
    traced = tail != NO_ROUTE
    seen = _seen(base, tail, int(round_ts[start]) if start < round_ts.size else None, memo)
    rows = np.flatnonzero((traced & ~seen).any(axis=1))  # the few pairs on a new route
    count, onset, new_code = (np.zeros(n_routes, dtype=np.int64), np.full(n_routes, -1),
                              np.full(n_routes, NO_ROUTE))
    if rows.size == 0:
        return RouteWindow(count, onset, new_code.copy(), new_code)  # most rounds
    traced, seen, tail = traced[rows], seen[rows], tail[rows]
    new, old = traced & ~seen, traced & seen
    # the run: new rounds after the latest traced round of a known fingerprint
    last_old = np.where(old.any(axis=1), tail.shape[1] - 1 - old[:, ::-1].argmax(axis=1), -1)
    cols = np.arange(tail.shape[1])
    in_run = new & (cols[None, :] > last_old[:, None])
    run = in_run.sum(axis=1)
    run[(base[rows] != NO_ROUTE).sum(axis=1) < MIN_BASELINE] = 0
    first = np.where(run > 0, in_run.argmax(axis=1), -1)
    count[rows] = run
    onset[rows] = np.where(run > 0, split + first, -1)
    new_code[rows] = np.where(run > 0, tail[np.arange(rows.size), np.maximum(first, 0)],
                              NO_ROUTE)
    return RouteWindow(count, onset, _last_traced_before(codes, onset), new_code)


def _seen(base: np.ndarray, tail: np.ndarray, span: int | None,
          memo: dict | None) -> np.ndarray:
    """[n_routes, tail rounds] whether each tail round's fingerprint is one of its baseline's.
    The baseline (from round span on) is the same the whole hour: its distinct fingerprints
    are found once (memo)."""
    was, known = (memo or {}).get("route_known", (None, None))
    if known is None or was != span:
        known = _distinct(base)
        if memo is not None:
            memo["route_known"] = (span, known)
    seen = np.zeros(tail.shape, dtype=bool)
    for code in known.T:  # a few: the paths a pair took in 21 h
        seen |= tail == code[:, None]
    return seen


def _distinct(codes: np.ndarray) -> np.ndarray:
    """[rows, most] the distinct values of each row, smallest first and padded with its
    largest (most: the most any row has), found a value a pass (rows hold a few)."""
    if codes.shape[1] == 0:
        return codes
    top = np.iinfo(codes.dtype).max
    found = [codes.min(axis=1)]
    while True:
        above = np.where(codes > found[-1][:, None], codes, top).min(axis=1)
        if (above == top).all():
            return np.stack(found, axis=1)
        found.append(np.where(above == top, found[-1], above))


def _last_traced_before(codes: np.ndarray, col: np.ndarray) -> np.ndarray:
    """The last fingerprint of each row before column col (NO_ROUTE where none or col < 0)."""
    out = np.full(codes.shape[0], NO_ROUTE)
    rows = np.flatnonzero(col >= 0)  # the few pairs in a run of new routes
    cols = np.arange(codes.shape[1])
    usable = (codes[rows] != NO_ROUTE) & (cols[None, :] < col[rows, None])
    last = codes.shape[1] - 1 - usable[:, ::-1].argmax(axis=1)
    out[rows] = np.where(usable.any(axis=1), codes[rows, last], NO_ROUTE)
    return out


def route_holds(codes: np.ndarray, onset_col: int) -> bool:
    """A route change holds until the last ROUTE_BACK_ROUNDS traced rounds are all on
    fingerprints seen before its onset (a round trip back to a known path)."""
    before = set(codes[:max(onset_col, 0)].tolist()) - {NO_ROUTE}
    traced = codes[max(onset_col, 0):]
    traced = traced[traced != NO_ROUTE][-ROUTE_BACK_ROUNDS:]
    return traced.size < ROUTE_BACK_ROUNDS or not set(traced.tolist()) <= before


def describe_hops(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, int | None]:
    """("route via NEW replaced OLD at hop N", N) for the first hop both answered that
    differs; otherwise the change of length or of silent hops, and None."""
    for i, (a, b) in enumerate(zip(old, new)):
        if a != b and "*" not in (a, b):
            return f"route via {b} replaced {a} at hop {i + 1}", i + 1
    if len(old) != len(new):
        return f"route now {len(new)} hops (was {len(old)})", None
    return "route changed at a silent hop", None

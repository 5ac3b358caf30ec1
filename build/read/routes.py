"""Current routes and route changes per (target, region): trace fingerprints of the window go
through signals_route; change history also comes from stored route_change signals."""
from __future__ import annotations

import sqlite3
from collections import defaultdict

from build.compute.detect import RouteInput
from build.compute.model import Route, RouteChange
from build.read.queries import read_detail
from build.compute.signals import Signal
from build.compute.signals_route import compute_route_changes
from collect.records import Hop

Pair = tuple[str, str]  # (target, region)


def build_routes(conn: sqlite3.Connection, fingerprints: list[tuple], names: dict[str, str],
                 stored: list[Signal]) -> tuple[dict[Pair, Route], list[RouteInput]]:
    """Routes of catalog targets (names: host -> display name) and the route changes found in
    the window's (target, region, round_ts, fingerprint) rows, with old and new hop lists."""
    rounds: dict[Pair, list[tuple[int, str | None]]] = defaultdict(list)
    for target, region, round_ts, fingerprint in fingerprints:
        if target in names:
            rounds[(target, region)].append((round_ts, fingerprint))
    history: dict[Pair, dict[int, RouteChange]] = defaultdict(dict)
    for g in stored:
        if g.type == "route_change" and g.old_hops is not None:
            history[(g.target, g.region)][g.ts] = _change_of(g)
    found: list[RouteInput] = []
    routes: dict[Pair, Route] = {}
    for pair, items in sorted(rounds.items()):
        ts, fps = [t for t, _ in items], [f for _, f in items]
        for event in compute_route_changes(ts, fps):
            old = _addresses(read_detail(conn, *pair, "trace", event.old_round_ts))
            new = _addresses(read_detail(conn, *pair, "trace", event.ts))
            found.append(RouteInput(pair[0], names[pair[0]], pair[1], event, old, new))
            history[pair][event.ts] = RouteChange(event.ts, event.old_fingerprint,
                                                  event.new_fingerprint, old, new)
        detail = read_detail(conn, *pair, "trace", ts[-1])
        hops = tuple(_hop(h) for h in detail.get("hops", ()))
        changes = tuple(history[pair][t] for t in sorted(history[pair]))
        routes[pair] = Route(ts[-1], fps[-1], hops, changes)
    return routes, found


def _change_of(g: Signal) -> RouteChange:
    return RouteChange(g.ts, g.old_fingerprint or "", g.new_fingerprint or "", g.old_hops or (),
                       g.new_hops or ())


def _addresses(detail: dict) -> tuple[str, ...]:
    return tuple(h.get("address") or "*" for h in detail.get("hops", ()))


def _hop(raw: dict) -> Hop:
    address = raw.get("address")
    return Hop(int(raw.get("ttl", 0)), None if address in (None, "*") else address,
               raw.get("rtt_ms"))

"""Current routes and route changes per (target, region), from the trace rounds and hop
details the read stage gathered (build/read/inputs.py RouteInputs); change history also comes
from stored route_change signals. Pure."""
from __future__ import annotations

from collections import defaultdict

from build.compute.detect import RouteInput
from build.compute.model import Route, RouteChange
from build.compute.signals import Signal
from build.read.inputs import Pair, RouteInputs
from collect.records import Hop


def build_routes(inputs: RouteInputs, names: dict[str, str],
                 stored: list[Signal]) -> tuple[dict[Pair, Route], list[RouteInput]]:
    """Routes of catalog targets (names: host -> display name) and the route changes found in
    the window, with old and new hop lists."""
    history: dict[Pair, dict[int, RouteChange]] = defaultdict(dict)
    for g in stored:
        if g.type == "route_change" and g.old_hops is not None:
            history[(g.target, g.region)][g.ts] = _change_of(g)
    found: list[RouteInput] = []
    routes: dict[Pair, Route] = {}
    for pair, (ts, fps) in sorted(inputs.rounds.items()):
        for event in inputs.changes[pair]:
            old = _addresses(inputs.details.get((*pair, event.old_round_ts), {}))
            new = _addresses(inputs.details.get((*pair, event.ts), {}))
            found.append(RouteInput(pair[0], names[pair[0]], pair[1], event, old, new))
            history[pair][event.ts] = RouteChange(event.ts, event.old_fingerprint,
                                                  event.new_fingerprint, old, new)
        detail = inputs.details.get((*pair, ts[-1]), {})
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

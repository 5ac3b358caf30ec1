"""Current routes and their change history per (target, region): the latest trace round the
read stage gathered (build/read/inputs.py RouteInputs) and the route_change events. Pure."""
from __future__ import annotations

from collections import defaultdict

from build.compute.events import Event
from build.compute.model import Route, RouteChange
from build.read.inputs import Pair, RouteInputs
from collect.records import Hop


def build_routes(inputs: RouteInputs, events: tuple[Event, ...]) -> dict[Pair, Route]:
    """Routes of the pairs with a trace in the window; changes oldest first."""
    changes: dict[Pair, list[RouteChange]] = defaultdict(list)
    for e in sorted(events, key=lambda e: e.started_at):
        if e.type == "route_change" and e.detail and "new_hops" in e.detail:
            changes[(e.target, e.region)].append(_change_of(e))
    routes: dict[Pair, Route] = {}
    for pair, (round_ts, fingerprint) in sorted(inputs.latest.items()):
        detail = inputs.details.get((*pair, round_ts), {})
        hops = tuple(_hop(h) for h in detail.get("hops", ()))
        routes[pair] = Route(round_ts, fingerprint, hops, tuple(changes[pair]))
    return routes


def _change_of(e: Event) -> RouteChange:
    d = e.detail or {}
    return RouteChange(e.started_at, d.get("old_fingerprint") or "",
                       d.get("new_fingerprint") or "", tuple(d.get("old_hops") or ()),
                       tuple(d.get("new_hops") or ()))


def _hop(raw: dict) -> Hop:
    address = raw.get("address")
    return Hop(int(raw.get("ttl", 0)), None if address in (None, "*") else address,
               raw.get("rtt_ms"))

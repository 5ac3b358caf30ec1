"""The paid JSON under private/ (served only by the keyed proxy): signals, routes and compare
data (30/90-day history: build/render/long_history.py; bulk export: proxy/export.py)."""
from __future__ import annotations

import json

from build.compute.model import Route, SiteModel
from build.render.json_api import API, dump_json, envelope, figures_doc, rounded, target_summary
from build.compute.signals import Signal
from collect.records import iso_utc


def signal_doc(g: Signal) -> dict:
    doc = {"type": g.type, "target": g.target, "region": g.region, "probe": g.probe,
           "ts": iso_utc(g.ts), "value": rounded(g.value), "threshold": rounded(g.threshold),
           "severity": g.severity, "scope": g.scope, "regions": list(g.regions),
           "description": g.description}
    if g.type == "route_change":
        doc |= {"old_hops": list(g.old_hops or ()), "new_hops": list(g.new_hops or ())}
    return doc


def render_private_json(model: SiteModel) -> dict[str, bytes]:
    gen = model.generated_at
    out = {
        f"{API}/signals.json": dump_json(envelope(
            "signals", gen, round=_iso(model.round_ts),
            signals=[signal_doc(g) for g in model.signals])),
        f"{API}/signals/history.json": dump_json(envelope(
            "signals-history", gen, window="7d",
            signals=[signal_doc(g) for g in model.signal_history])),
        f"{API}/compare.json": dump_json(_compare_doc(model)),
    }
    for t in model.targets:
        routes = {r.region: _route_doc(r.route) for r in t.regions}
        out[f"{API}/routes/{t.host}.json"] = dump_json(envelope("routes", gen, host=t.host,
                                                                 regions=routes))
    return out


def _route_doc(route: Route | None) -> dict | None:
    if route is None:
        return None
    return {"round_ts": iso_utc(route.round_ts), "fingerprint": route.fingerprint,
            "hops": [h.to_json() for h in route.hops],
            "changes": [{"ts": iso_utc(c.ts), "old_fingerprint": c.old_fingerprint,
                         "new_fingerprint": c.new_fingerprint, "old_hops": list(c.old_hops),
                         "new_hops": list(c.new_hops)} for c in route.changes]}


def _compare_doc(model: SiteModel) -> dict:
    targets = {}
    for t in model.targets:
        regions = {}
        for r in t.regions:
            medians = {s.probe: _median([v for v in s.rtt_ms if v is not None])
                       for s in r.series_24h}
            regions[r.region] = {"stale": r.stale, "probes": {
                f.probe: figures_doc(f) | {"median_24h_ms": medians.get(f.probe)}
                for f in r.latest}}
        targets[t.host] = target_summary(t) | {"regions": regions}
    return envelope("compare", model.generated_at, targets=targets)


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return rounded(s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2)


def _iso(ts: int | None) -> str | None:
    return None if ts is None else iso_utc(ts)

"""The paid JSON under private/ (served only by the keyed proxy): signals, routes and compare
data (30/90-day history: build/render/long_history.py; bulk export: proxy/export.py)."""
from __future__ import annotations


from build.compute.model import Route, SiteModel
from build.compute.series import optional_floats
from build.render.json_api import API, dump_json, envelope, figures_doc, rounded, target_summary
from build.compute.events import DETECTOR_VERSION, EVENT_SCHEMA
from collect.records import iso_utc


def render_private_json(model: SiteModel) -> dict[str, bytes]:
    gen = model.generated_at
    out = {
        f"{API}/signals.json": dump_json(envelope(
            "signals", gen, event_schema=EVENT_SCHEMA, detector=DETECTOR_VERSION,
            round=_iso(model.round_ts), window="open, and resolved in the last 24 h",
            signals=[e.to_json() for e in model.events])),
        f"{API}/signals/history.json": dump_json(envelope(
            "signals-history", gen, event_schema=EVENT_SCHEMA, detector=DETECTOR_VERSION,
            window="90d", signals=[e.to_json() for e in model.event_history])),
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
            medians = {s.probe: _median([v for v in optional_floats(s.rtt_ms) if v is not None])
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

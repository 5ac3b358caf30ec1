"""build_site_model: the read stage's BuildInputs into one SiteModel, plus this build's turn of
the event detector (the write stage stores its events). Pure: no I/O; staleness is judged at
the inputs' clock.now_ts.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from build.compute.build_events import BuildEvents, compute_build_events
from build.compute.colocation import ColocationAdvice, colocation_grid, compute_colocation_advice
from build.compute.model import (MODEL_SCHEMA, Best, Category, Cert, ProbeFigures, Ranking,
                                 RankingEntry, RegionStatus, Route, SiteModel,
                                 TargetRegion, TargetView)
from build.compute.routes import build_routes
from build.compute.series import RawSeries, raw_to_series
from build.compute.events import Event
from build.compute.detector_input import DETECTED_PROBES
from build.compute.quality import SignalQuality, compute_signal_quality
from build.compute.session_figures import TargetSessions, compute_target_sessions
from build.read.inputs import EVENT_HISTORY_S, BuildInputs
from collect.records import PROBES, ROUND_S, Target, round_slot
from collect.targets import Catalog, category_slug

LATE_S = 60  # a round is late this long after its slot ends
HOUR_S = 3600
BEST_PROBES = ("icmp", "tcp", "http", "tls")  # the figure a badge and a ranking show


@dataclass(frozen=True, slots=True)
class Assembled:
    model: SiteModel
    events: BuildEvents  # this build's turn of the event detector


@dataclass(frozen=True, slots=True)
class _Inputs:
    raw: dict[tuple, RawSeries]
    routes: dict[tuple, Route]
    stale: dict[str, str | None]
    certs: dict[str, Cert]
    events: tuple[Event, ...]  # open or resolved in the last 24 h
    sessions: dict[str, TargetSessions]


def build_site_model(inputs: BuildInputs) -> Assembled:
    catalog, clock, latest = inputs.catalog, inputs.clock, inputs.latest
    ref = latest if latest is not None else round_slot(clock.now_ts)
    generated = clock.source_date_epoch if clock.source_date_epoch is not None else ref
    skipped = [] if latest is not None else ["the database holds no results: no data anywhere"]
    window = inputs.window
    if window.skewed:
        skipped.append(f"{window.skewed} clock-skewed results left out (round ahead of now, "
                       "or probe started after its round)")
    names = {t.host: t.name for t in catalog.targets}
    codes = tuple(r.code for r in catalog.regions)
    skipped += _not_in_catalog(window.raw, names, codes, catalog.path)
    raw = {k: v for k, v in window.raw.items() if k[0] in names and k[1] in codes}
    stale = compute_region_staleness(inputs.last_rounds, latest,
                                     round_slot(clock.now_ts - LATE_S))
    events = compute_build_events(inputs)
    routes = build_routes(inputs.routes, events.history)
    colocation = _colocation(inputs)
    sessions = compute_target_sessions(
        catalog.targets, codes, inputs.sessions, inputs.session_hours,
        {} if colocation is None else {c.host: c.probe for c in colocation.targets}, ref)
    model_inputs = _Inputs(raw, routes, stale, _certs(window.latest_tls, generated),
                           events.recent, sessions)
    targets = tuple(_target_view(t, catalog, model_inputs) for t in catalog.targets)
    skipped += [f"{t.host}: no data in the last 24 h" for t in targets if not t.has_data]
    skipped += [f"region {c}: {why}" for c, why in stale.items() if why]
    model = SiteModel(MODEL_SCHEMA, generated, latest, targets,
                      _regions(catalog, inputs.last_rounds, stale), _categories(catalog),
                      _rankings(catalog, targets), events.recent, events.history,
                      colocation, _quality(inputs, raw, events, ref), tuple(skipped))
    return Assembled(model, events)


def _quality(inputs: BuildInputs, raw: dict, events: BuildEvents, ref: int) -> SignalQuality:
    """Live figures over the stored history (EVENT_HISTORY_S) of the series measured now."""
    series = sum(1 for k in raw if k[2] in DETECTED_PROBES)
    return compute_signal_quality(events.history, inputs.measured_quality, series,
                                  ref - EVENT_HISTORY_S, ref)


def _colocation(inputs: BuildInputs) -> ColocationAdvice | None:
    """Over the 7 days to the last whole hour before the latest round."""
    if inputs.latest is None:
        return None
    catalog = inputs.catalog
    hosts = tuple(t.host for t in catalog.targets)
    grid = colocation_grid(inputs.hourly, hosts, tuple(r.code for r in catalog.regions),
                           inputs.latest // HOUR_S * HOUR_S - HOUR_S)
    return compute_colocation_advice(grid, {c: tuple(t.host for t in catalog.targets
                                                     if t.category == c)
                                            for c in catalog.categories})


def _not_in_catalog(raw: dict, names: dict, codes: tuple[str, ...], path: str) -> list[str]:
    hosts = sorted({k[0] for k in raw if k[0] not in names})
    regions = sorted({k[1] for k in raw if k[1] not in codes})
    return ([f"{h}: has results but is not in {path} (removed?); skipped" for h in hosts]
            + [f"region {r}: has results but is not in {path}; skipped" for r in regions])


def _certs(tls: list[tuple], generated: int) -> dict[str, Cert]:
    """Each target's cert from its newest TLS result with a detail (one row a target)."""
    out = {}
    for target, region, round_ts, detail in tls:
        fields = json.loads(detail)
        expires, issuer = fields.get("cert_expires"), fields.get("cert_issuer")
        days = None
        if expires:
            at = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
            days = round((at - generated) / 86400, 2)
        out[target] = Cert(expires, issuer, days, region, round_ts)
    return out


def _target_view(t: Target, catalog: Catalog, inputs: _Inputs) -> TargetView:
    events = tuple(e for e in inputs.events if e.target == t.host)
    regions = tuple(_target_region(t.host, r.code, inputs) for r in catalog.regions)
    fresh = [(best_rtt(r.latest), r.region) for r in regions if not r.stale]
    best = min(((b, code) for b, code in fresh if b), key=lambda x: (x[0].rtt_ms, x[1]),
               default=None)
    return TargetView(
        t.host, t.name, t.category, category_slug(t.category), t.port,
        any(r.latest for r in regions), regions,
        None if best is None else Best(best[1], best[0].probe, best[0].rtt_ms),
        inputs.certs.get(t.host), events, sum(e.status == "open" for e in events),
        f"widget/{t.host}.svg", f"widget/{t.host}.png", f"api/v1/badge/{t.host}.json",
        inputs.sessions[t.host])


def _target_region(host: str, code: str, inputs: _Inputs) -> TargetRegion:
    keys = [(host, code, p) for p in PROBES]
    latest = tuple(inputs.raw[k].latest for k in keys if k in inputs.raw)
    day = tuple(raw_to_series(k[2], inputs.raw[k], ROUND_S) for k in keys if k in inputs.raw)
    return TargetRegion(code, inputs.stale.get(code) is not None, latest, day,
                        inputs.routes.get((host, code)), f"widget/{host}/{code}.svg")


def best_rtt(latest: tuple[ProbeFigures, ...]) -> ProbeFigures | None:
    """The figure shown for a region: the first probe of BEST_PROBES that got an RTT."""
    by_probe = {f.probe: f for f in latest if f.rtt_ms is not None}
    return next((by_probe[p] for p in BEST_PROBES if p in by_probe), None)


def compute_region_staleness(last_round_ts: dict[str, int | None], latest_round_ts: int | None,
                             expected_round_ts: int | None) -> dict[str, str | None]:
    """Why each region is stale, or None when fresh. expected_round_ts is the round whose
    results are due by now (the caller allows the 60 s lateness); latest_round_ts is the newest
    round any region reported."""
    out: dict[str, str | None] = {}
    for code, last in last_round_ts.items():
        if last is None:
            out[code] = "never reported"
        elif latest_round_ts is not None and last < latest_round_ts:
            out[code] = "missed the latest round"
        elif expected_round_ts is not None and last < expected_round_ts:
            out[code] = "round late"
        else:
            out[code] = None
    return out


def _regions(catalog: Catalog, last_rounds: dict, stale: dict) -> tuple[RegionStatus, ...]:
    return tuple(RegionStatus(r.code, r.city, r.note, r.lat, r.lon, last_rounds[r.code],
                              stale[r.code] is not None, stale[r.code]) for r in catalog.regions)


def _categories(catalog: Catalog) -> tuple[Category, ...]:
    return tuple(Category(category_slug(c), c, tuple(t.host for t in catalog.targets
                                                     if t.category == c))
                 for c in catalog.categories)


def _rankings(catalog: Catalog, targets: tuple[TargetView, ...]) -> tuple[Ranking, ...]:
    groups = [("all", targets)] + [(category_slug(c), tuple(t for t in targets if t.category == c))
                                   for c in catalog.categories]
    out = []
    for slug, members in groups:
        for index, region in enumerate(catalog.regions):
            entries = []
            for t in members:
                view = t.regions[index]
                best = None if view.stale else best_rtt(view.latest)
                if best is not None:
                    entries.append(RankingEntry(t.host, t.name, best.probe, best.rtt_ms))
            entries.sort(key=lambda e: (e.rtt_ms, e.host))
            out.append(Ranking(slug, region.code, tuple(entries)))
    return tuple(out)

"""A generated SiteModel (synthetic figures, seeded) for render and budget tests, independent of
the database: N targets x 7 regions with 24 h series, routes, certs, signals, colocation and
trading sessions (odd targets on the NYSE calendar, the others open 24/7)."""
from __future__ import annotations

import random

import numpy as np

from build.compute.colocation import (PROBES as PROBES_RANKED, WINDOW_HOURS, ColocationAdvice,
                                      HourlyGrid, compute_colocation_advice)
from build.compute.model import (Best, Category, Cert, ProbeFigures, Ranking, RankingEntry, RegionStatus, Route,
                         RouteChange, Series, SiteModel, TargetRegion, TargetView)
from build.compute.events import Event
from build.compute.quality import compute_signal_quality
from build.compute.session_figures import WINDOWS_S, SessionWindow, TargetSessions
from build.compute.sessions import MarketState, SessionStats
from collect.records import PROBES, Hop

NOW = 1_764_000_000 // 900 * 900
REGIONS = (("ewr", "Newark", "US east coast, NY4/NY5 equities", 40.69, -74.17),
           ("ord", "Chicago", "CME futures, Aurora", 41.98, -87.9),
           ("lhr", "London", "LSE, LD4 FX", 51.47, -0.45),
           ("fra", "Frankfurt", "Xetra, Eurex, FR2", 50.03, 8.57),
           ("sin", "Singapore", "SGX, SG1 crypto", 1.36, 103.99),
           ("nrt", "Tokyo", "JPX, TY3", 35.77, 140.39),
           ("bom", "Mumbai", "NSE, BSE", 19.09, 72.87))
CATEGORIES = (("crypto-exchanges", "Crypto Exchanges"), ("brokers", "Brokers"),
              ("market-data", "Market Data"), ("fx", "FX Venues"))
MEASURED = {"detector_version": "2026.1", "measured_on": "2026-12-06",
            "command": ".venv/bin/python bench/signals.py",
            "types": {"level_shift": {"false_per_series_week": 0.2, "recall_3sigma": 0.93}}}
HOSTILE_NAME = 'Evil <script>alert("x")</script> & \'Co\' Zürich 東京'


def _series(rng, base_ms: float, step_s: int, points: int, gap_at: int | None) -> Series:
    ts = tuple(NOW - step_s * (points - 1 - i) for i in range(points))
    rtt = tuple(None if gap_at is not None and gap_at <= i < gap_at + 4 else round(base_ms * rng.uniform(0.93, 1.12), 3)
                for i in range(points))
    return Series("icmp", step_s, ts, rtt, rtt, tuple(0.0 for _ in ts))


def _region_view(rng, host: str, code: str, base_ms: float, stale: bool) -> TargetRegion:
    latest = tuple(ProbeFigures(p, NOW, True, round(base_ms * f, 3), base_ms, base_ms * 1.2, base_ms * 1.4, 0.3,
                                0.0 if p != "icmp" or rng.random() > 0.1 else 0.2, None)
                   for p, f in zip(PROBES, (1.0, 1.05, 2.1, 3.3, 0.4, 1.0)))
    hops = tuple(Hop(i + 1, None if i == 2 else f"10.{i}.0.1", base_ms * (i + 1) / 6) for i in range(6))
    change = RouteChange(NOW - 7200, "aaa", "bbb", ("10.0.0.1", "*", "10.9.9.9"), tuple(h.address or "*" for h in hops))
    route = Route(NOW, "bbb", hops, (change,) if rng.random() < 0.3 else ())
    return TargetRegion(code, stale, latest,
                        (_series(rng, base_ms, 900, 96, rng.choice([None, 40])),),
                        route, f"widget/{host}/{code}.svg")


def make_site_model(n_targets: int = 6, seed: int = 7, stale_region: str | None = "bom") -> SiteModel:
    """Target 0 carries a hostile name (markup, quotes, unicode); one region is stale."""
    rng = random.Random(seed)
    targets, signals = [], []
    for i in range(n_targets):
        slug, cat = CATEGORIES[i % len(CATEGORIES)]
        host = f"api{i}.exchange{i}.example"
        name = HOSTILE_NAME if i == 0 else f"Exchange {i}"
        base = {code: rng.uniform(2, 280) for code, *_ in REGIONS}
        regions = tuple(_region_view(rng, host, code, base[code], code == stale_region) for code, *_ in REGIONS)
        fresh = {c: v for c, v in base.items() if c != stale_region}
        best_region = min(fresh, key=fresh.get)
        sig = Event(f"e{i}", "level_shift", host, "fra", ("fra",), "regional", "icmp", NOW - 1800, None,
                    "open", 10.0, 14.2, 4.2, "warning", f"{name} from fra: RTT +4.2 ms (icmp)", None, NOW)
        target_signals = (sig,) if i % 3 == 0 else ()
        signals.extend(target_signals)
        targets.append(TargetView(host, name, cat, slug, 443, True, regions,
                                  Best(best_region, "icmp", round(base[best_region], 3)),
                                  Cert("2027-01-05T00:00:00Z", "Example CA", 41.0, "fra", NOW),
                                  target_signals, len(target_signals), f"widget/{host}.svg", f"widget/{host}.png",
                                  f"api/v1/badge/{host}.json", _sessions(i % 2 == 1, base)))
    rankings = tuple(Ranking("all", code, tuple(sorted(
        (RankingEntry(t.host, t.name, "icmp", next(f.rtt_ms for f in tr.latest if f.probe == "icmp"))
         for t in targets for tr in t.regions if tr.region == code), key=lambda e: e.rtt_ms)))
        for code, *_ in REGIONS)
    return SiteModel(
        schema=1, generated_at=NOW, round_ts=NOW, targets=tuple(targets),
        regions=tuple(RegionStatus(c, city, note, lat, lon, NOW - (3600 if c == stale_region else 0),
                                   c == stale_region, "round late" if c == stale_region else None)
                      for c, city, note, lat, lon in REGIONS),
        categories=tuple(Category(slug, name, tuple(t.host for t in targets if t.category_slug == slug))
                         for slug, name in CATEGORIES),
        rankings=rankings, events=tuple(signals), event_history=tuple(signals),
        colocation=_colocation(targets, seed),
        quality=compute_signal_quality(tuple(signals), MEASURED, n_targets * len(REGIONS) * 5,
                                       NOW - 90 * 86400, NOW), skipped=())


def _sessions(on_calendar: bool, base: dict[str, float]) -> TargetSessions:
    """Closed since 21:00 UTC with 7 session hours in the 24 h (the NYSE's), or open 24/7."""
    def stats(window_s: int, code: str) -> SessionStats:
        hours = window_s // 3600
        session = hours * 7 // 24 if on_calendar else hours
        return SessionStats(window_s, round(base[code] * 1.02, 3), round(base[code], 3), 0.995, 0.998,
                            session, hours)
    windows = tuple(SessionWindow(w, NOW, tuple((code, stats(w, code)) for code, *_ in REGIONS))
                    for w in WINDOWS_S)
    if not on_calendar:
        return TargetSessions(None, NOW, MarketState(True, None, None), "icmp", windows, ())
    return TargetSessions("XNYS", NOW, MarketState(False, NOW + 17 * 3600, NOW + 24 * 3600), "icmp",
                          windows, ((NOW - 8 * 3600, NOW - 1800),))


def _colocation(targets: list[TargetView], seed: int) -> ColocationAdvice:
    """Advice over 7 days of hourly medians near each target's regional base RTT."""
    rng = np.random.default_rng(seed)
    base = np.array([[next(f.rtt_ms for f in tr.latest if f.probe == "icmp") for tr in t.regions]
                     for t in targets])
    medians = base[:, None, :, None] * rng.uniform(0.95, 1.05, (len(targets), 2, len(REGIONS),
                                                                WINDOW_HOURS))
    grid = HourlyGrid(tuple(t.host for t in targets), PROBES_RANKED, tuple(r[0] for r in REGIONS),
                      NOW // 3600 * 3600 - WINDOW_HOURS * 3600, medians)
    return compute_colocation_advice(grid, {name: tuple(t.host for t in targets
                                                        if t.category_slug == slug)
                                            for slug, name in CATEGORIES})

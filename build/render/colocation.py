"""Colocation documents: the free best-region list, the Pro per-target ranking with intervals and
the Pro venue pairs per category (JSON), and the plain data of the "Where to host" page."""
from __future__ import annotations

from dataclasses import dataclass

from build.compute.colocation import (BOOTSTRAP_REPLICATES, CI_LEVEL, HOUR_S, MIN_HOURS,
                                      ColocationAdvice, Colocation, RegionRank, VenuePair,
                                      format_ms)
from build.render.json_api import API, dump_json, envelope, rounded
from collect.records import iso_utc
from collect.targets import category_slug

METHOD = {
    "statistic": "median of the region's hourly median RTTs over the window",
    "probe": "icmp, or tcp where icmp does not reach every region tcp reaches",
    "interval": (f"{CI_LEVEL * 100:.0f} % percentile bootstrap of the difference of two "
                 f"medians, {BOOTSTRAP_REPLICATES} resamples of each region's hourly medians, "
                 "fixed seed"),
    "min_hours": MIN_HOURS,
    "best_changes": "days (24 h blocks ending with the window) whose best region differed "
                    "from the day before's",
}


def colocation_paths(hosts: tuple[str, ...],
                     categories: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(public, private) paths render_colocation_json writes for these hosts and category
    names: to look the previous build's files up before computing anything."""
    private = [f"{API}/colocation/{host}.json" for host in hosts]
    private.append(f"{API}/colocation/pairs.json")
    private += [f"{API}/colocation/pairs/{category_slug(name)}.json" for name in categories]
    return (f"{API}/colocation.json",), tuple(private)


def render_colocation_json(advice: ColocationAdvice,
                           generated_at: int) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(public, private) outputs by path: api/v1/colocation.json (every target's best region,
    free); api/v1/colocation/{host}.json (the ranking with intervals),
    api/v1/colocation/pairs/{category-slug}.json and pairs.json (every category) (Pro).
    generated_at: unix s."""
    window = _window(advice)
    public = {f"{API}/colocation.json": dump_json(envelope(
        "colocation", generated_at, window=window, method=METHOD,
        targets={c.host: _best_doc(c) for c in advice.targets}))}
    private = {}
    for c in advice.targets:
        private[f"{API}/colocation/{c.host}.json"] = dump_json(envelope(
            "colocation-target", generated_at, host=c.host, window=window, method=METHOD,
            **_best_doc(c), verdict=c.verdict, latest_best=c.latest_best,
            ranking=[_rank_doc(r) for r in c.ranking]))
    groups = [{"category": g.category, "slug": category_slug(g.category),
               "pairs": [_pair_doc(p) for p in g.pairs]} for g in advice.pairs]
    private[f"{API}/colocation/pairs.json"] = dump_json(envelope(
        "colocation-pairs-all", generated_at, window=window, categories=groups))
    for group in groups:
        private[f"{API}/colocation/pairs/{group['slug']}.json"] = dump_json(envelope(
            "colocation-pairs", generated_at, window=window, **group))
    return public, private


def _window(advice: ColocationAdvice) -> dict:
    hours = (advice.last_hour_ts - advice.first_hour_ts) // HOUR_S + 1
    return {"start": iso_utc(advice.first_hour_ts), "end": iso_utc(advice.last_hour_ts + HOUR_S),
            "hours": hours}


def _best_doc(c: Colocation) -> dict:
    best = c.best
    return {"best_region": None if best is None else best.region,
            "median_ms": None if best is None else rounded(best.median_ms),
            "probe": c.probe, "days": c.days, "best_changes": c.best_changes,
            "best_held_days": c.best_held_days, "summary": c.summary}


def _rank_doc(r: RegionRank) -> dict:
    return {"region": r.region, "rank": r.rank, "median_ms": rounded(r.median_ms),
            "hours": r.hours, "gap_ms": rounded(r.gap_ms),
            "gap_ci_ms": [rounded(r.gap_low_ms), rounded(r.gap_high_ms)]}


def _pair_doc(p: VenuePair) -> dict:
    return {"a": p.host_a, "b": p.host_b, "region": p.region, "worst_ms": rounded(p.worst_ms),
            "a_ms": rounded(p.a_ms), "b_ms": rounded(p.b_ms)}


@dataclass(frozen=True, slots=True)
class HostRow:
    """One target on the "Where to host" page: its best region only (the free view)."""

    host: str
    name: str
    region: str | None  # None: not enough data yet
    city: str | None
    rtt_text: str  # "1.9 ms", or "–" without a best region
    summary: str


@dataclass(frozen=True, slots=True)
class HostSection:
    slug: str
    name: str
    rows: tuple[HostRow, ...]


@dataclass(frozen=True, slots=True)
class HostPage:
    """The plain data site_templates/colocation.html.j2 renders (as `colo`)."""

    window_text: str  # "7 days to 2026-11-25 19:00 UTC"
    sections: tuple[HostSection, ...]
    ci_percent: int


def build_host_page(advice: ColocationAdvice, names: dict[str, str], cities: dict[str, str],
                    categories: dict[str, tuple[str, ...]]) -> HostPage:
    """The page's data: names host -> display name, cities region -> city, categories
    name -> hosts (catalog order)."""
    by_host = {c.host: c for c in advice.targets}
    sections = tuple(
        HostSection(category_slug(name), name,
                    tuple(_host_row(by_host[h], names[h], cities) for h in hosts if h in by_host))
        for name, hosts in categories.items())
    end = iso_utc(advice.last_hour_ts + HOUR_S)
    days = ((advice.last_hour_ts - advice.first_hour_ts) // HOUR_S + 1) / 24
    return HostPage(f"{days:g} days to {end[:10]} {end[11:16]} UTC",
                    tuple(s for s in sections if s.rows), round(CI_LEVEL * 100))


def _host_row(c: Colocation, name: str, cities: dict[str, str]) -> HostRow:
    best = c.best
    if best is None:
        return HostRow(c.host, name, None, None, "–", c.summary)
    return HostRow(c.host, name, best.region, cities.get(best.region),
                   f"{format_ms(best.median_ms)} ms", c.summary)

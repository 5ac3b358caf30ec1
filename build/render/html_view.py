"""Page-ready records for the site-wide pages (dashboard, landing, regions), built from the
SiteModel. Pure: no I/O, no clock (times come from the model).

The heat map shows one headline RTT per target and region: the probe of the target's best
figure (so a row never mixes ICMP and TCP connect), ICMP when the target has no best yet.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from markupsafe import Markup

from api.contract import FEATURE_LABELS, ROUTES, SESSIONS, SIGNALS, TIERS, tier_for_feature
from build.render.charts import render_sparkline
from build.compute.model import SiteModel, TargetRegion, TargetView
from build.compute.series import optional_floats

HEADLINE_PROBE = "icmp"
HEAT_LIMITS_MS = (10, 25, 50, 100, 150, 250)  # upper bounds of classes h0..h5; h6 is above
LOSS_WARN_RATIO = 0.0  # any loss is worth a mark
FASTEST_PER_REGION = 8


@dataclass(frozen=True, slots=True)
class HeatBand:
    css_class: str
    label: str


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    heat_class: str
    stale: bool = False
    best: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    host: str
    name: str
    category: str
    category_slug: str
    search_text: str
    cells: tuple[Cell, ...]
    loss_text: str
    loss_warn: bool
    spark: Markup
    signal_count: int
    best_rtt_text: str | None
    best_region: str | None


@dataclass(frozen=True, slots=True)
class CategoryRows:
    slug: str
    name: str
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class KeyedOffer:
    """Paid data a public page leaves out: what it is, its keyed endpoint, the cheapest tier."""

    label: str
    request: str  # e.g. "GET /api/v1/routes/api.kraken.com"
    tier: str


@dataclass(frozen=True, slots=True)
class FastEntry:
    host: str
    name: str
    category: str
    text: str
    heat_class: str


@dataclass(frozen=True, slots=True)
class RegionItem:
    code: str
    city: str
    note: str
    lat: float
    lon: float
    stale: bool
    last_round: str | None
    measured_count: int
    fastest: tuple[FastEntry, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    price: str


@dataclass(frozen=True, slots=True)
class PlanFeature:
    label: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SiteContext:
    generated_at: str  # ISO 8601 UTC
    generated_label: str
    target_count: int
    regions: tuple[RegionItem, ...]
    stale_regions: tuple[RegionItem, ...]
    categories: tuple[CategoryRows, ...]
    flagged: tuple[Row, ...]  # targets with open signals, catalog order
    signal_offer: KeyedOffer  # where the signals' details are
    heat_scale: tuple[HeatBand, ...]
    plans: tuple[Plan, ...]
    plan_features: tuple[PlanFeature, ...]
    world_map: Markup


def utc_label(ts: int | float, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime(fmt)


def iso(ts: int | float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def heat_class(rtt_ms: float | None) -> str:
    """CSS class of the one colour scale every RTT on the site uses; 'nd' for no data."""
    if rtt_ms is None:
        return "nd"
    return f"h{sum(rtt_ms >= limit for limit in HEAT_LIMITS_MS)}"


def heat_scale() -> tuple[HeatBand, ...]:
    lows = (0, *HEAT_LIMITS_MS)
    bands = [HeatBand(f"h{i}", f"{lo}–{hi} ms") for i, (lo, hi) in enumerate(zip(lows, HEAT_LIMITS_MS))]
    return (*bands, HeatBand(f"h{len(HEAT_LIMITS_MS)}", f"≥ {HEAT_LIMITS_MS[-1]} ms"))


def format_ms(rtt_ms: float | None) -> str:
    """Three significant figures at most: 0.42, 4.2, 42.1, 421."""
    if rtt_ms is None:
        return "—"
    return f"{rtt_ms:.2f}" if rtt_ms < 1 else f"{rtt_ms:.1f}" if rtt_ms < 100 else f"{rtt_ms:.0f}"


def headline_probe(target: TargetView) -> str:
    return target.best.probe if target.best else HEADLINE_PROBE


def figure(tr: TargetRegion, probe: str):
    return next((f for f in tr.latest if f.probe == probe), None)


def headline_series(tr: TargetRegion, probe: str):
    """The 24 h series of probe: the only history the public pages show (the free tier's)."""
    return next((s for s in tr.series_24h if s.probe == probe), None)


def build_row(target: TargetView) -> Row:
    probe = headline_probe(target)
    cells, losses = [], []
    for tr in target.regions:
        f = figure(tr, probe)
        rtt = f.rtt_ms if f and f.ok else None
        if f is not None and f.round_ts:
            losses.append(f.loss_ratio)
        is_best = bool(target.best and target.best.region == tr.region and rtt is not None)
        cells.append(Cell(format_ms(rtt), heat_class(rtt), tr.stale, is_best))
    worst_loss = max(losses) if losses else None
    best_tr = next((tr for tr in target.regions if target.best and tr.region == target.best.region), None)
    spark_series = headline_series(best_tr, probe) if best_tr else None
    spark_label = f"{target.name} 24 h RTT from {best_tr.region}" if best_tr else f"{target.name} 24 h RTT"
    return Row(
        host=target.host, name=target.name, category=target.category, category_slug=target.category_slug,
        search_text=f"{target.name} {target.host} {target.category}".lower(),
        cells=tuple(cells),
        loss_text="—" if worst_loss is None else f"{worst_loss * 100:.0f}%",
        loss_warn=worst_loss is not None and worst_loss > LOSS_WARN_RATIO,
        spark=render_sparkline(optional_floats(spark_series.rtt_ms) if spark_series else [], spark_label),
        signal_count=target.open_events,
        best_rtt_text=format_ms(target.best.rtt_ms) if target.best else None,
        best_region=target.best.region if target.best else None,
    )


def build_regions(model: SiteModel) -> tuple[RegionItem, ...]:
    by_host = {t.host: t for t in model.targets}
    out = []
    for r in model.regions:
        ranking = next((k for k in model.rankings if k.region == r.code and k.category_slug == "all"), None)
        entries = ranking.entries if ranking else ()
        fastest = tuple(
            FastEntry(e.host, e.name, by_host[e.host].category if e.host in by_host else "",
                      format_ms(e.rtt_ms), heat_class(e.rtt_ms))
            for e in entries[:FASTEST_PER_REGION])
        out.append(RegionItem(
            code=r.code, city=r.city, note=r.note, lat=r.lat, lon=r.lon, stale=r.stale,
            last_round=utc_label(r.last_round_ts) if r.last_round_ts else None,
            measured_count=len(entries), fastest=fastest))
    return tuple(out)


def build_plans() -> tuple[tuple[Plan, ...], tuple[PlanFeature, ...]]:
    tiers = list(TIERS.values())
    plans = tuple(Plan(_tier_name(t.name), _price_label(t.price_usd_per_month)) for t in tiers)
    rows = [
        PlanFeature("API calls per day", tuple(f"{t.calls_per_day:,}" if t.calls_per_day else "unlimited" for t in tiers)),
        PlanFeature("History", tuple(_history_label(t.history_hours) for t in tiers)),
    ]
    for feature, label in FEATURE_LABELS.items():
        rows.append(PlanFeature(label, tuple("✓ yes" if feature in t.features else "— no" for t in tiers)))
    return plans, tuple(rows)


def _price_label(usd_per_month: int) -> str:
    return f"${usd_per_month:,}/mo" if usd_per_month else "$0"


def signal_offer() -> KeyedOffer:
    return KeyedOffer("Each signal's type, size, regions and time, and their history",
                      "GET /api/v1/signals/history", _tier_name(tier_for_feature(SIGNALS).name))


def target_offers(host: str) -> tuple[KeyedOffer, ...]:
    """The keyed endpoints with what a target page leaves out: signal details, route hops and
    changes, session figures over 7 and 30 days, history beyond 24 h (the cheapest tier that
    reaches further back)."""
    free = TIERS["free"].history_hours
    longer = next(t for t in TIERS.values() if t.history_hours > free)
    longest = max(t.history_hours for t in TIERS.values())
    return (signal_offer(),
            KeyedOffer("Route hops and route changes per region", f"GET /api/v1/routes/{host}",
                       _tier_name(tier_for_feature(ROUTES).name)),
            KeyedOffer("Latency and availability in session hours over 7 and 30 days",
                       f"GET /api/v1/sessions/{host}",
                       _tier_name(tier_for_feature(SESSIONS).name)),
            KeyedOffer(f"History beyond {_history_label(free)}, up to {_history_label(longest)}",
                       f"GET /api/v1/latency/{host}/history?hours={longer.history_hours}",
                       _tier_name(longer.name)))


def _tier_name(name: str) -> str:
    return name.capitalize()


def _history_label(hours: int) -> str:
    return f"{hours // 24} days" if hours >= 48 else f"{hours} h"

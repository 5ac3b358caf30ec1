"""Page-ready record for one target's page: probe table, charts, routes, signals, TLS, badge."""
from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from build.render.charts import ChartSpec, Series, render_line_chart
from build.render.html_view import (SignalItem, build_signal_item, figure, format_ms, headline_probe,
                             headline_series, heat_class, iso, utc_label)
from build.compute.model import RegionStatus, Route, TargetView
from build.render.social import social_path

PROBE_COLUMNS = (("dns", "DNS"), ("tcp", "TCP connect"), ("tls", "TLS"), ("http", "TTFB"), ("icmp", "ICMP"))
TLS_WARN_DAYS = 14
TARGET_SIGNALS = 15
DAY_S = 86_400
PROBE_NAMES = dict(PROBE_COLUMNS)


@dataclass(frozen=True, slots=True)
class ProbeColumn:
    probe: str
    label: str


@dataclass(frozen=True, slots=True)
class ProbeCell:
    text: str
    heat_class: str


@dataclass(frozen=True, slots=True)
class ProbeRow:
    region: str
    city: str
    stale: bool
    cells: tuple[ProbeCell, ...]
    loss_text: str
    loss_warn: bool
    measured_label: str


@dataclass(frozen=True, slots=True)
class HopItem:
    ttl: int
    address: str
    rtt_text: str


@dataclass(frozen=True, slots=True)
class ChangeItem:
    ts_iso: str
    ts_label: str
    old_path: str
    new_path: str


@dataclass(frozen=True, slots=True)
class RouteItem:
    region: str
    hops: tuple[HopItem, ...]
    changes: tuple[ChangeItem, ...]  # newest first


@dataclass(frozen=True, slots=True)
class TlsItem:
    expires_iso: str
    expires_label: str
    days_text: str
    warn: bool
    issuer: str | None


@dataclass(frozen=True, slots=True)
class TargetPage:
    probe_columns: tuple[ProbeColumn, ...]
    probe_rows: tuple[ProbeRow, ...]
    chart_24h: Markup
    chart_7d: Markup
    routes: tuple[RouteItem, ...]
    signals: tuple[SignalItem, ...]
    tls: TlsItem | None
    badge_svg: str  # paths relative to public/, from the model
    region_badges: tuple[tuple[str, str], ...]  # (region, path)
    badge_markdown: str
    badge_html: str
    social_url: str


def build_probe_rows(target: TargetView, regions: dict[str, RegionStatus]) -> tuple[ProbeRow, ...]:
    rows = []
    for tr in target.regions:
        figs = [figure(tr, p) for p, _ in PROBE_COLUMNS]
        cells = tuple(ProbeCell(format_ms(f.rtt_ms if f and f.ok else None),
                                heat_class(f.rtt_ms if f and f.ok else None)) for f in figs)
        measured = [f for f in figs if f is not None and f.round_ts]
        loss = max((f.loss_ratio for f in measured), default=None)
        last = max((f.round_ts for f in measured), default=None)
        region = regions.get(tr.region)
        rows.append(ProbeRow(
            region=tr.region, city=region.city if region else tr.region, stale=tr.stale, cells=cells,
            loss_text="—" if loss is None else f"{loss * 100:.0f}%", loss_warn=bool(loss),
            measured_label=utc_label(last, "%m-%d %H:%M") if last else "never"))
    return tuple(rows)


def build_chart(target: TargetView, window: str, end_ts: int) -> Markup:
    probe = headline_probe(target)
    series = []
    for tr in target.regions:
        s = headline_series(tr, probe, window)
        if s is not None:
            series.append(Series(tr.region, tuple(zip(s.ts, s.rtt_ms))))
    name = PROBE_NAMES.get(probe, probe)
    if window == "24h":
        spec = ChartSpec("c24", f"{target.name}: {name} RTT, last 24 hours, per region", end_ts - DAY_S, end_ts)
    else:
        spec = ChartSpec("c7d", f"{target.name}: {name} RTT, last 7 days, hourly median per region",
                         end_ts - 7 * DAY_S, end_ts, x_tick_s=DAY_S, x_format="%a %d")
    return render_line_chart(series, spec)


def build_route(region: str, route: Route | None) -> RouteItem:
    if route is None:
        return RouteItem(region, (), ())
    hops = tuple(HopItem(h.ttl, h.address or "*", format_ms(h.rtt_ms)) for h in route.hops)
    changes = tuple(ChangeItem(iso(c.ts), utc_label(c.ts, "%b %d %H:%M UTC"),
                               " › ".join(c.old_hops), " › ".join(c.new_hops))
                    for c in reversed(route.changes))
    return RouteItem(region, hops, changes)


def build_tls(target: TargetView) -> TlsItem | None:
    cert = target.cert
    if cert is None or cert.expires is None:
        return None
    days = cert.days_left
    if days is None:
        text = "days left unknown"
    elif days < 0:
        text = f"expired {-days:.0f} days ago"
    else:
        text = f"in {days:.0f} days"
    return TlsItem(cert.expires, cert.expires.replace("T", " ").replace("Z", " UTC"), text,
                   days is not None and days < TLS_WARN_DAYS, cert.issuer)


def build_target_page(target: TargetView, model, names: dict[str, str]) -> TargetPage:
    """Everything the target template shows; `model` gives regions, signal history and the time."""
    regions = {r.code: r for r in model.regions}
    history = [s for s in model.signal_history if s.target == target.host and s not in target.signals]
    signals = tuple(build_signal_item(s, names) for s in (*target.signals, *history)[:TARGET_SIGNALS])
    badge, page = f"/{target.badge_svg}", f"/status/{target.host}/"
    return TargetPage(
        probe_columns=tuple(ProbeColumn(p, label) for p, label in PROBE_COLUMNS),
        probe_rows=build_probe_rows(target, regions),
        chart_24h=build_chart(target, "24h", model.generated_at),
        chart_7d=build_chart(target, "7d", model.generated_at),
        routes=tuple(build_route(tr.region, tr.route) for tr in target.regions),
        signals=signals,
        tls=build_tls(target),
        badge_svg=target.badge_svg,
        region_badges=tuple((tr.region, tr.badge_svg) for tr in target.regions),
        badge_markdown=f"[![NetTrace latency]({badge})]({page})",
        badge_html=f'<a href="{page}"><img src="{badge}" alt="NetTrace latency" height="20"></a>',
        social_url=f"../../{social_path(target.host)}",
    )

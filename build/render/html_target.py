"""Page-ready record for one target's page: the latest round per probe, the 24 h chart (its
market's session hours shaded), whether the market is open and the 24 h session figures, how
many signals are open, TLS and badges. Signal details, routes, session figures over 7 and 30
days and older history are not on it: the page names the keyed endpoints that serve them
(html_view.target_offers)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from markupsafe import Markup

from build.render.charts import ChartSpec, Series, render_line_chart
from build.render.html_view import (KeyedOffer, figure, format_ms, headline_probe, headline_series,
                                    heat_class, iso, target_offers, utc_label)
from build.compute.model import RegionStatus, SiteModel, TargetView
from build.compute.series import optional_floats
from build.compute.session_figures import TargetSessions
from build.render.social import social_path

PROBE_COLUMNS = (("dns", "DNS"), ("tcp", "TCP connect"), ("tls", "TLS"), ("http", "TTFB"), ("icmp", "ICMP"))
TLS_WARN_DAYS = 14
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
class TlsItem:
    expires_iso: str
    expires_label: str
    days_text: str
    warn: bool
    issuer: str | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    region: str
    city: str
    session_ms: str
    all_ms: str
    session_availability: str
    all_availability: str


@dataclass(frozen=True, slots=True)
class SessionBlock:
    """The market's state at the latest round and the 24 h figures (rows: () for a market open
    24/7, whose session hours are all hours)."""

    calendar: str | None
    state: str  # "open" | "closed" | "unknown"
    at_iso: str
    at_label: str
    next_open: tuple[str, str] | None  # (ISO, label)
    next_close: tuple[str, str] | None
    session_hours: int  # of the 24
    probe: str
    rows: tuple[SessionRow, ...]


@dataclass(frozen=True, slots=True)
class TargetPage:
    probe_columns: tuple[ProbeColumn, ...]
    probe_rows: tuple[ProbeRow, ...]
    chart_24h: Markup
    shaded_label: str | None  # what the chart's shading marks; None: nothing shaded
    session: SessionBlock | None
    where_to_host: str | None  # the best region only (free); None before 7 days of data
    open_signals: int
    keyed: tuple[KeyedOffer, ...]
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


def build_chart(target: TargetView, end_ts: int) -> Markup:
    """The headline probe's RTT over the last 24 h, one line per region, the market's session
    hours shaded."""
    probe = headline_probe(target)
    series = []
    for tr in target.regions:
        s = headline_series(tr, probe)
        if s is not None:
            series.append(Series(tr.region, tuple(zip(np.asarray(s.ts).tolist(),
                                                         optional_floats(s.rtt_ms)))))
    name = PROBE_NAMES.get(probe, probe)
    spans = target.sessions.spans if target.sessions else ()
    spec = ChartSpec("c24", f"{target.name}: {name} RTT, last 24 hours, per region", end_ts - DAY_S,
                     end_ts, shaded=spans, shaded_label=_shaded_label(target.sessions))
    return render_line_chart(series, spec)


def _shaded_label(s: TargetSessions | None) -> str | None:
    return None if s is None or not s.spans else f"{s.calendar} session hours (UTC)"


def build_session_block(s: TargetSessions | None,
                        regions: dict[str, RegionStatus]) -> SessionBlock | None:
    if s is None:
        return None
    m = s.market
    state = "unknown" if m.open is None else "open" if m.open else "closed"
    day = next(w for w in s.windows if w.window_s == DAY_S)
    rows = () if s.calendar is None else tuple(
        SessionRow(region, regions[region].city if region in regions else region,
                   format_ms(st.session_median_ms), format_ms(st.all_median_ms),
                   _percent(st.session_availability_ratio), _percent(st.all_availability_ratio))
        for region, st in day.regions)
    return SessionBlock(
        s.calendar, state, iso(s.at_ts), utc_label(s.at_ts),
        None if m.next_open_ts is None else (iso(m.next_open_ts), utc_label(m.next_open_ts)),
        None if m.next_close_ts is None else (iso(m.next_close_ts), utc_label(m.next_close_ts)),
        next((st.session_points for _, st in day.regions), 0), s.probe or "no probe", rows)


def _percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:.1f}%"


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


def build_target_page(target: TargetView, model: SiteModel) -> TargetPage:
    """Everything the target template shows; `model` gives the regions and the time."""
    regions = {r.code: r for r in model.regions}
    badge, page = f"/{target.badge_svg}", f"/status/{target.host}/"
    return TargetPage(
        probe_columns=tuple(ProbeColumn(p, label) for p, label in PROBE_COLUMNS),
        probe_rows=build_probe_rows(target, regions),
        chart_24h=build_chart(target, model.generated_at),
        shaded_label=_shaded_label(target.sessions),
        session=build_session_block(target.sessions, regions),
        where_to_host=_where_to_host(model, target.host),
        open_signals=target.open_events,
        keyed=target_offers(target.host),
        tls=build_tls(target),
        badge_svg=target.badge_svg,
        region_badges=tuple((tr.region, tr.badge_svg) for tr in target.regions),
        badge_markdown=f"[![NetTrace latency]({badge})]({page})",
        badge_html=f'<a href="{page}"><img src="{badge}" alt="NetTrace latency" height="20"></a>',
        social_url=f"../../{social_path(target.host)}",
    )


def _where_to_host(model: SiteModel, host: str) -> str | None:
    """The colocation advice's free summary for host (the full ranking is Pro)."""
    advice = model.colocation
    found = None if advice is None else next((c for c in advice.targets if c.host == host), None)
    return None if found is None or found.best is None else found.summary

"""The public JSON API under api/v1/: targets, latest latency (with the market's session and
the 24 h session figures), 24 h history, rankings and the shields.io endpoint files; and the
keyed session figures over 7 and 30 days (private api/v1/sessions/{host}.json). Every document
carries `schema` and `generated_at`; bytes are deterministic (sorted keys, fixed float
rounding, no wall clock).
"""
from __future__ import annotations

import json

import numpy as np
import orjson

from build.compute.model import ProbeFigures, Series, SiteModel, TargetView
from build.compute.session_figures import WINDOWS_S, TargetSessions
from build.compute.sessions import DAY_S, SessionStats
from build.compute.series import optional_floats
from collect.records import iso_utc

API = "api/v1"
FLOAT_DIGITS = 3
SESSION_METHOD = {
    "statistic": "median of the hourly median RTTs of the window's whole hours",
    "availability": "probe results that got an answer over probe results",
    "in_session": "an hour whose middle falls in one of the market's sessions "
                  "(exchange_calendars: half days, holidays and breaks included)",
    "probe": "colocation's: icmp, or tcp where icmp is blocked (with too few hours to rank, "
             "the first of icmp, tcp with a rollup)",
    "hours": "session_hours: the window's hours in session; all_hours: all its hours",
}


def dump_json(doc: dict) -> bytes:
    """Canonical bytes: sorted keys, compact separators, UTF-8, trailing newline. orjson writes
    them ~20x faster than json and byte for byte alike, but for floats below 1e-4 (0.00001, not
    1e-05; our figures are rounded above that) and NaN (null); json writes the documents orjson
    refuses (keys that are not strings, integers beyond 64 bits)."""
    try:
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return (json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           allow_nan=False) + "\n").encode()


def envelope(kind: str, generated_at: int, **body) -> dict:
    return {"schema": f"nettrace.{kind}/1", "generated_at": iso_utc(generated_at), **body}


def rounded(v: float | None, digits: int = FLOAT_DIGITS) -> float | None:
    return None if v is None else round(v, digits)


def figures_doc(f: ProbeFigures) -> dict:
    return {"round_ts": iso_utc(f.round_ts), "ok": f.ok, "rtt_ms": rounded(f.rtt_ms),
            "min_ms": rounded(f.min_ms), "p95_ms": rounded(f.p95_ms), "max_ms": rounded(f.max_ms),
            "jitter_ms": rounded(f.jitter_ms), "loss": rounded(f.loss_ratio, 4), "error": f.error}


def aligned_series_doc(s: Series, start_ts: int, end_ts: int) -> dict:
    """Columns aligned to a fixed grid from start_ts to end_ts (inclusive) every s.step_s;
    null where the grid has no point, so a gap stays visible."""
    n = (end_ts - start_ts) // s.step_s + 1
    idx = (np.array(s.ts, dtype=np.int64) - start_ts) // s.step_s
    keep = (idx >= 0) & (idx < n)
    columns = {}
    for name, values, digits in (("rtt_ms", s.rtt_ms, FLOAT_DIGITS),
                                 ("p95_ms", s.p95_ms, FLOAT_DIGITS), ("loss", s.loss_ratio, 4)):
        grid = np.full(n, np.nan)
        grid[idx[keep]] = np.array(values, dtype=float)[keep]
        columns[name] = json_floats(grid, digits)
    return {"start": iso_utc(start_ts), "step_s": s.step_s, **columns}


def json_floats(values: np.ndarray, digits: int = FLOAT_DIGITS) -> list[float | None]:
    """Rounded floats for JSON, None for NaN (JSON has no NaN)."""
    return optional_floats(np.round(values, digits))


def render_public_json(model: SiteModel) -> dict[str, bytes]:
    out = {f"{API}/targets.json": dump_json(_targets_doc(model))}
    for t in model.targets:
        out[f"{API}/latency/{t.host}.json"] = dump_json(latency_doc(model, t))
        out[f"{API}/latency/{t.host}/history.json"] = dump_json(_history_doc(model, t))
    out[f"{API}/rankings.json"] = dump_json(_rankings_doc(model, "all"))
    for c in model.categories:
        out[f"{API}/rankings/{c.slug}.json"] = dump_json(_rankings_doc(model, c.slug))
    return out


def target_summary(t: TargetView) -> dict:
    best = None if t.best is None else {"region": t.best.region, "probe": t.best.probe,
                                        "rtt_ms": rounded(t.best.rtt_ms)}
    return {"host": t.host, "name": t.name, "category": t.category,
            "category_slug": t.category_slug, "port": t.port, "has_data": t.has_data,
            "best": best, "latency": f"/{API}/latency/{t.host}.json", "badge": f"/{t.badge_svg}"}


def _targets_doc(model: SiteModel) -> dict:
    regions = [{"code": r.code, "city": r.city, "note": r.note, "lat": r.lat, "lon": r.lon,
                "last_round": None if r.last_round_ts is None else iso_utc(r.last_round_ts),
                "stale": r.stale, "stale_reason": r.reason} for r in model.regions]
    categories = [{"slug": c.slug, "name": c.name, "hosts": list(c.hosts)}
                  for c in model.categories]
    return envelope("targets", model.generated_at, regions=regions, categories=categories,
                    targets=[target_summary(t) for t in model.targets])


def latency_doc(model: SiteModel, t: TargetView) -> dict:
    regions = {r.region: {"stale": r.stale, "badge": f"/{r.badge_svg}",
                          "probes": {f.probe: figures_doc(f) for f in r.latest}}
               for r in t.regions}
    cert = None if t.cert is None else {"expires": t.cert.expires, "issuer": t.cert.issuer,
                                        "days_left": t.cert.days_left, "region": t.cert.region}
    return envelope("latency", model.generated_at, **target_summary(t), cert=cert,
                    regions=regions, signals=t.open_events,
                    sessions=None if t.sessions is None else sessions_doc(t.sessions, (DAY_S,)))


def render_sessions_json(model: SiteModel) -> dict[str, bytes]:
    """The keyed (private/) api/v1/sessions/{host}.json: the market's state and each region's
    session figures over every window of WINDOWS_S (24 h, 7 d, 30 d)."""
    return {f"{API}/sessions/{t.host}.json": dump_json(envelope(
        "sessions", model.generated_at, host=t.host, name=t.name,
        **sessions_doc(t.sessions, WINDOWS_S))) for t in model.targets if t.sessions is not None}


def sessions_doc(s: TargetSessions, windows_s: tuple[int, ...]) -> dict:
    """The market's state at s.at_ts and the figures of the windows (s) asked for."""
    m = s.market
    return {"calendar": s.calendar, "always_open": s.calendar is None, "at": iso_utc(s.at_ts),
            "open": m.open, "next_open": _iso(m.next_open_ts), "next_close": _iso(m.next_close_ts),
            "probe": s.probe, "method": SESSION_METHOD,
            "windows": {window_label(w.window_s): {
                "end": iso_utc(w.end_ts),
                "regions": {region: _stats_doc(stats) for region, stats in w.regions}}
                for w in s.windows if w.window_s in windows_s}}


def window_label(window_s: int) -> str:
    """24h, 7d, 30d."""
    return f"{window_s // DAY_S}d" if window_s > DAY_S else f"{window_s // 3600}h"


def _stats_doc(st: SessionStats) -> dict:
    return {"session_median_ms": rounded(st.session_median_ms),
            "all_median_ms": rounded(st.all_median_ms),
            "session_availability": rounded(st.session_availability_ratio, 4),
            "all_availability": rounded(st.all_availability_ratio, 4),
            "session_hours": st.session_points, "all_hours": st.all_points}


def _iso(ts: int | None) -> str | None:
    return None if ts is None else iso_utc(ts)


def _history_doc(model: SiteModel, t: TargetView) -> dict:
    end = model.round_ts or model.generated_at
    start = end - 24 * 3600 + 900
    regions = {r.region: {s.probe: aligned_series_doc(s, start, end) for s in r.series_24h}
               for r in t.regions}
    return envelope("history", model.generated_at, host=t.host, window="24h", regions=regions)


def _rankings_doc(model: SiteModel, slug: str) -> dict:
    stale = {r.code: r.stale for r in model.regions}
    regions = {r.region: {"stale": stale[r.region],
                          "entries": [{"rank": i + 1, "host": e.host, "name": e.name,
                                       "probe": e.probe, "rtt_ms": rounded(e.rtt_ms)}
                                      for i, e in enumerate(r.entries)]}
               for r in model.rankings if r.category_slug == slug}
    return envelope("rankings", model.generated_at, category=slug, regions=regions)

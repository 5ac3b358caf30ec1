"""The public JSON API under api/v1/: targets, latest latency, 24 h history, rankings and the
shields.io endpoint files. Every document carries `schema` and `generated_at`; bytes are
deterministic (sorted keys, fixed float rounding, no wall clock).
"""
from __future__ import annotations

import json

import numpy as np
import orjson

from build.compute.model import ProbeFigures, Series, SiteModel, TargetView
from build.compute.series import optional_floats
from collect.records import iso_utc

API = "api/v1"
FLOAT_DIGITS = 3


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
                    regions=regions, signals=t.open_events)


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

"""public/metrics: Prometheus text exposition 0.0.4 (serve as `text/plain; version=0.0.4`).

The `_ms` and `_1h` names are what existing users scrape; the base-unit forms Prometheus
recommends sit next to them. Stale regions export no figures (only `nettrace_region_up 0`),
so a dashboard never shows old numbers as current. promtool's lint notes that remain are
documented in tests/build/test_metrics.py (KEPT_LINT).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from build.compute.model import SiteModel
from build.render.json_api import rounded

HOUR_S = 3600


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    help: str
    samples: list[tuple[dict[str, str], float]]


def render_metrics(model: SiteModel, build_duration_s: float | None = None) -> dict[str, bytes]:
    """build_duration_s: the previous build's duration (a build cannot time its own output)."""
    families = _target_families(model) + _region_families(model)
    if build_duration_s is not None:
        families.append(Family("nettrace_build_duration_seconds",
                               "Wall time of the previous site build.",
                               [({}, round(build_duration_s, 3))]))
    families.append(Family("nettrace_build_round_timestamp_seconds",
                           "Unix time of the newest round in this build.",
                           [({}, float(model.round_ts or 0))]))
    return {"metrics": "".join(_family_text(f) for f in families).encode()}


def _target_families(model: SiteModel) -> list[Family]:
    rtt_ms, rtt_s, loss, up, last, hops, routes, signals = ([] for _ in range(8))
    recent = Counter((e.target, region) for e in model.event_history
                     if e.started_at > (model.round_ts or 0) - HOUR_S for region in e.regions)
    for t in model.targets:
        for r in t.regions:
            if r.stale:
                continue
            base = {"target": t.host, "region": r.region, "category": t.category}
            for f in r.latest:
                labels = base | {"probe": f.probe}
                up.append((labels, 1.0 if f.ok else 0.0))
                last.append((labels, float(f.round_ts)))
                loss.append((labels, round(f.loss_ratio, 4)))
                if f.rtt_ms is not None:
                    rtt_ms.append((labels, rounded(f.rtt_ms)))
                    rtt_s.append((labels, round(f.rtt_ms / 1000, 6)))
            if r.route is not None:
                hops.append((base, float(len(r.route.hops))))
                routes.append((base, float(_changes_1h(r.route.changes, model))))
            signals.append((base, float(recent[(t.host, r.region)])))
    return [
        Family("nettrace_target_rtt_ms", "Latest round-trip time, median of the samples, in "
               "milliseconds (legacy name; see nettrace_target_rtt_seconds).", rtt_ms),
        Family("nettrace_target_rtt_seconds", "Latest round-trip time, median of the samples.",
               rtt_s),
        Family("nettrace_target_loss_ratio", "Share of samples lost in the latest round (0-1).",
               loss),
        Family("nettrace_target_up", "1 if the latest probe got an answer, else 0.", up),
        Family("nettrace_target_last_measured_timestamp_seconds",
               "Unix time of the round the latest figures come from.", last),
        Family("nettrace_target_hops", "Hops in the current traceroute.", hops),
        Family("nettrace_route_changes_1h", "Route changes confirmed in the last hour.", routes),
        Family("nettrace_quant_signals_1h", "Signal events that began in the last hour.",
               signals),
    ]


def _region_families(model: SiteModel) -> list[Family]:
    up = [({"region": r.code}, 0.0 if r.stale else 1.0) for r in model.regions]
    last = [({"region": r.code}, float(r.last_round_ts)) for r in model.regions
            if r.last_round_ts is not None]
    return [Family("nettrace_region_up", "1 if the region reported the latest round in time.",
                   up),
            Family("nettrace_region_last_round_timestamp_seconds",
                   "Unix time of the region's latest round.", last)]


def _changes_1h(changes, model: SiteModel) -> int:
    ref = model.round_ts or 0
    return sum(1 for c in changes if c.ts > ref - HOUR_S)


def _family_text(f: Family) -> str:
    lines = [f"# HELP {f.name} {_escape_help(f.help)}", f"# TYPE {f.name} gauge"]
    for labels, value in f.samples:
        body = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
        lines.append(f"{f.name}{{{body}}} {_number(value)}" if body else f"{f.name} {_number(value)}")
    return "\n".join(lines) + "\n"


def _escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n")


def _number(v: float) -> str:
    return repr(float(v)) if v != int(v) or abs(v) >= 1e15 else str(int(v))

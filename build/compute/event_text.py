"""An event's one-line description and its severity. Pure.

Severity (it never falls while an event is open):
- RTT changes (level_shift, divergence, trend, route_change with an RTT change): critical
  when the level moved Z_CRITICAL of its noise scales (the median since the onset against the
  median before it, not one round's peak) and CRITICAL_CHANGE of itself, warning at Z_WARNING
  and WARNING_CHANGE, else info;
- loss: critical at CRITICAL_LOSS or more, warning at WARNING_LOSS, else info;
- spike and a route_change alone: info;
- an event seen from GLOBAL_MIN_REGIONS regions (global scope) is at least a warning.
"""
from __future__ import annotations

Z_WARNING = 6.0
Z_CRITICAL = 12.0
WARNING_CHANGE = 0.05  # of the level before
CRITICAL_CHANGE = 0.25
WARNING_LOSS = 0.05
CRITICAL_LOSS = 0.5
GLOBAL_MIN_REGIONS = 4  # of 7: an event seen this widely is the target's, not a collector's
LEVELS = ("info", "warning", "critical")


def scope_of(regions: tuple[str, ...]) -> str:
    return "global" if len(regions) >= GLOBAL_MIN_REGIONS else "regional"


def severity_of(kind: str, level_z: float | None, before_ms: float | None,
                during_ms: float | None, detail: dict | None, scope: str) -> str:
    """level_z: the level's move in noise scales (None: not judged this round)."""
    level, z = 0, level_z
    if kind == "loss":
        ratio = float((detail or {}).get("loss_during_ratio", 0.0))
        level = 2 if ratio >= CRITICAL_LOSS else 1 if ratio >= WARNING_LOSS else 0
    elif kind != "spike" and z is not None and before_ms and during_ms is not None:
        change = abs(during_ms / before_ms - 1.0)
        if abs(z) >= Z_CRITICAL and change >= CRITICAL_CHANGE:
            level = 2
        elif abs(z) >= Z_WARNING and change >= WARNING_CHANGE:
            level = 1
    if scope == "global":
        level = max(level, 1)
    return LEVELS[level]


def describe(kind: str, name: str, region: str, probe: str, figures: dict,
             regions: tuple[str, ...]) -> str:
    """figures: z, before_ms, during_ms and detail of the event."""
    z, before, during = figures["z"], figures["before_ms"], figures["during_ms"]
    detail = figures["detail"] or {}
    if kind == "loss":
        text = (f"{name} loss {detail.get('loss_during_ratio', 0.0):.1%} from {region} over "
                f"{probe} (was {detail.get('loss_before_ratio', 0.0):.1%})")
    elif kind == "spike":
        text = (f"{name} RTT spike from {region} for one round: {_change(before, during)} over "
                f"{', '.join(detail.get('probes', [probe]))} (z {z:+.1f})")
    elif kind == "route_change":
        text = f"{name} from {region}: {detail.get('hops_text', 'route changed')}"
        shift = detail.get("shift")
        if shift:
            text += (f"; RTT {_signed(before, during)} ({_ms(before)} -> {_ms(during)} over "
                     f"{shift['probe']})")
    elif kind == "trend":
        verb = "rising" if (z or 0) > 0 else "falling"
        text = (f"{name} RTT {verb} {abs(detail.get('slope_ms_per_h', 0.0)):.1f} ms/h from "
                f"{region} over {probe} ({_ms(before)} -> {_ms(during)}, z {z:+.1f})")
    elif kind == "divergence":
        verb = "lags" if (z or 0) > 0 else "pulls ahead of"
        text = (f"{name} {verb} its peers from {region} over {probe}: {_change(before, during)} "
                f"while they are steady (z {z:+.1f})")
    else:
        text = f"{name} RTT {_change(before, during)} from {region} over {probe} (z {z:+.1f})"
    if len(regions) > 1:
        text += f"; seen from {len(regions)} regions"
    return text


def _change(before: float | None, during: float | None) -> str:
    if before is None or during is None:
        return "changed"
    word = "up" if during >= before else "down"
    return f"{word} {abs(during - before):.1f} ms ({_ms(before)} -> {_ms(during)})"


def _signed(before: float | None, during: float | None) -> str:
    if before is None or during is None:
        return "unchanged"
    return f"{during - before:+.1f} ms"


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} ms"

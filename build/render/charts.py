"""SVG charts rendered at build time: a line chart with one line per region (shaded spans, such
as a market's sessions, behind the lines), and a sparkline.

Pure functions from series to SVG markup (no I/O, no clock). A missing value (None) or a
jump in time larger than 1.5 steps breaks the line, so a gap in the data shows as a gap.
Colours come from CSS classes (`l-0` ... `l-6`), so light and dark themes restyle them; each
line also has its own dash pattern and a text label at its end, so colour is never the only cue.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from markupsafe import Markup, escape

GAP_FACTOR = 1.5  # a step longer than this many median steps is a hole in the data
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 2 1 2")
Y_TICKS = 4
LABEL_GAP_PX = 12
# f"{v:.1f}" of every tenth from 0.0 to 999.9, by index v * 10: charts format ~190k coordinates
_TENTHS = np.array([f"{i // 10}.{i % 10}" for i in range(10_000)], dtype=object)
_TIE_MARGIN = 1e-6  # v * 10 this close to an odd half may round either way: formatted one by one


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    points: tuple[tuple[float, float | None], ...]  # (unix seconds, value in ms or None)


@dataclass(frozen=True, slots=True)
class ChartSpec:
    chart_id: str  # unique within the page: ids of the title and desc
    title: str
    start_ts: float
    end_ts: float
    width_px: int = 640
    height_px: int = 300
    x_tick_s: int = 6 * 3600
    x_format: str = "%H:%M"
    shaded: tuple[tuple[int, int], ...] = ()  # (start, end) unix s spans drawn behind the lines
    shaded_label: str = ""  # what the shading marks, for the description: "NYSE session"


_PAD_L, _PAD_R, _PAD_T, _PAD_B = 44, 40, 22, 24


def nice_step(raw: float) -> float:
    """The smallest 1/2/5 x 10^n at or above raw (raw > 0)."""
    exp = 10 ** math.floor(math.log10(raw))
    return next(m * exp for m in (1, 2, 5, 10) if raw <= m * exp)


def y_ticks(max_value: float) -> list[float]:
    """Round tick values from 0 to at least max_value, about Y_TICKS intervals."""
    top = max(max_value, 1.0)  # a flat zero line still gets a 1 ms scale
    step = nice_step(top / Y_TICKS)
    return [step * i for i in range(math.ceil(top / step) + 1)]


def split_runs(points, max_step_s: float | None = None) -> list[list[tuple[float, float]]]:
    """Consecutive present points, broken at None values and at time jumps above max_step_s."""
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    last_ts = None
    for ts, value in points:
        jumped = max_step_s is not None and last_ts is not None and ts - last_ts > max_step_s
        if value is None or jumped:
            if current:
                runs.append(current)
            current = []
        if value is not None:
            current.append((ts, value))
        last_ts = ts
    if current:
        runs.append(current)
    return runs


def _max_step(points) -> float | None:
    steps = [b[0] - a[0] for a, b in zip(points, points[1:]) if b[0] > a[0]]
    return GAP_FACTOR * statistics.median(steps) if steps else None


def _path(runs, sx, sy) -> str:
    """SVG path data of runs; sx and sy map numpy arrays of times and values to pixels."""
    ts = np.array([t for run in runs for t, _ in run], dtype=float)
    values = np.array([v for run in runs for _, v in run], dtype=float)
    coords = list(map(",".join, zip(_fixed1(sx(ts)), _fixed1(sy(values)))))
    parts, at = [], 0
    for run in runs:
        n = len(run)
        parts.append("M" + "L".join(coords[at:at + n]) if n > 1 else f"M{coords[at]}h0.01")
        at += n
    return "".join(parts)


def _fixed1(values: np.ndarray) -> list[str]:
    """f"{v:.1f}" of each value (pixels): looked up in _TENTHS where v * 10 is clearly nearer
    one whole number, formatted one by one otherwise (ties, negatives, beyond 999.9, NaN)."""
    scaled = values * 10
    tenths = np.round(scaled)
    with np.errstate(invalid="ignore"):
        fast = ((np.abs(scaled - np.floor(scaled) - 0.5) > _TIE_MARGIN) & ~np.signbit(values)
                & (tenths < len(_TENTHS)))
    out = _TENTHS[np.where(fast, tenths, 0).astype(np.int64)].tolist()
    for i in np.flatnonzero(~fast).tolist():
        out[i] = f"{values[i]:.1f}"
    return out


def render_line_chart(series: list[Series], spec: ChartSpec) -> Markup:
    """An accessible SVG line chart (role=img, title, desc with each line's summary)."""
    w, h = spec.width_px, spec.height_px
    cid = escape(spec.chart_id)
    values = [v for s in series for _, v in s.points if v is not None]
    ticks = y_ticks(max(values) * 1.05 if values else 10.0)
    y_max = ticks[-1]
    span = max(spec.end_ts - spec.start_ts, 1.0)

    def sx(ts: float) -> float:
        return _PAD_L + (ts - spec.start_ts) / span * (w - _PAD_L - _PAD_R)

    def sy(v: float) -> float:
        return h - _PAD_B - v / y_max * (h - _PAD_T - _PAD_B)

    out = [
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{cid}-t {cid}-d">',
        f'<title id="{cid}-t">{escape(spec.title)}</title>',
        f'<desc id="{cid}-d">{escape(describe_series(series) + _describe_shading(spec))}</desc>',
    ]
    out += _shading(spec, h, sx) + _y_axis(ticks, w, sy) + _x_axis(spec, h, sx)
    ends = []
    for i, s in enumerate(series):
        runs = split_runs(s.points, _max_step(s.points))
        if not runs:
            continue
        dash = f' stroke-dasharray="{DASHES[i % len(DASHES)]}"' if DASHES[i % len(DASHES)] else ""
        out.append(f'<path class="line l-{i % 7}"{dash} d="{_path(runs, sx, sy)}"/>')
        t, v = runs[-1][-1]
        ends.append([sy(v) + 4, sx(t) + 4, i, s.label])
    out += _end_labels(ends, h)
    if not values:
        out.append(f'<text class="nodata" x="{w / 2:.0f}" y="{h / 2:.0f}">no data in this window</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _shaded_spans(spec: ChartSpec) -> list[tuple[float, float]]:
    """spec's shaded spans clipped to its time range, empty ones left out."""
    clipped = [(max(a, spec.start_ts), min(b, spec.end_ts)) for a, b in spec.shaded]
    return [(a, b) for a, b in clipped if b > a]


def _shading(spec: ChartSpec, h: int, sx) -> list[str]:
    return [f'<rect class="shade" x="{sx(a):.1f}" y="{_PAD_T}" width="{sx(b) - sx(a):.1f}" '
            f'height="{h - _PAD_T - _PAD_B}"/>' for a, b in _shaded_spans(spec)]


def _describe_shading(spec: ChartSpec) -> str:
    spans = _shaded_spans(spec)
    if not spans:
        return ""
    fmt = spec.x_format
    return f"; shaded: {spec.shaded_label} " + ", ".join(
        f"{datetime.fromtimestamp(a, tz=timezone.utc).strftime(fmt)}-"
        f"{datetime.fromtimestamp(b, tz=timezone.utc).strftime(fmt)}" for a, b in spans)


def _y_axis(ticks: list[float], w: int, sy) -> list[str]:
    out = []
    for v in ticks:
        y = sy(v)
        label = f"{v:g}" if v < 1000 else f"{v / 1000:g}k"
        out.append(f'<line class="grid" x1="{_PAD_L}" x2="{w - _PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="ytick" x="{_PAD_L - 6}" y="{y + 4:.1f}">{label}</text>')
    out.append(f'<text class="yunit" x="{_PAD_L - 6}" y="{_PAD_T - 8}">ms</text>')
    return out


def _end_labels(ends: list[list], h: int) -> list[str]:
    """Line labels at their last point, pushed apart vertically so none overlap."""
    ends.sort()
    for prev, cur in zip(ends, ends[1:]):
        cur[0] = max(cur[0], prev[0] + LABEL_GAP_PX)
    overflow = ends[-1][0] - (h - _PAD_B + 4) if ends else 0
    return [f'<text class="end l-{i % 7}" x="{x:.1f}" y="{y - max(overflow, 0):.1f}">{escape(label)}</text>'
            for y, x, i, label in ends]


def _x_axis(spec: ChartSpec, h: int, sx) -> list[str]:
    out = [f'<line class="axis" x1="{_PAD_L}" x2="{sx(spec.end_ts):.1f}" y1="{h - _PAD_B}" y2="{h - _PAD_B}"/>']
    first = math.ceil(spec.start_ts / spec.x_tick_s) * spec.x_tick_s
    for ts in range(int(first), int(spec.end_ts) + 1, spec.x_tick_s):
        x = sx(ts)
        label = datetime.fromtimestamp(ts, tz=timezone.utc).strftime(spec.x_format)
        out.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{h - _PAD_B}" y2="{h - _PAD_B + 4}"/>')
        out.append(f'<text class="xtick" x="{x:.1f}" y="{h - 8}">{label}</text>')
    return out


def describe_series(series: list[Series]) -> str:
    """A one-line text summary of every line, for screen readers: latest, median and range."""
    parts = []
    for s in series:
        vals = [v for _, v in s.points if v is not None]
        if not vals:
            parts.append(f"{s.label}: no data")
            continue
        parts.append(
            f"{s.label}: latest {vals[-1]:.1f} ms, median {statistics.median(vals):.1f} ms, "
            f"range {min(vals):.1f}-{max(vals):.1f} ms"
        )
    return "; ".join(parts) if parts else "no data"


def render_sparkline(values: list[float | None], label: str, width_px: int = 96, height_px: int = 20) -> Markup:
    """A small trend line (None breaks it) with an aria-label; the scale is the line's own range."""
    present = [v for v in values if v is not None]
    if not present:
        return Markup(f'<svg class="spark" viewBox="0 0 {width_px} {height_px}" role="img" '
                      f'aria-label="{escape(label)}: no data"></svg>')
    lo, hi = min(present), max(present)
    rng = (hi - lo) or 1.0
    n = max(len(values) - 1, 1)
    runs = split_runs(list(enumerate(values)))
    d = _path(runs, lambda i: 1 + i / n * (width_px - 2), lambda v: height_px - 2 - (v - lo) / rng * (height_px - 4))
    aria = f"{label}: {lo:.1f} to {hi:.1f} ms over 24 h, latest {present[-1]:.1f} ms"
    return Markup(f'<svg class="spark" viewBox="0 0 {width_px} {height_px}" role="img" '
                  f'aria-label="{escape(aria)}"><path d="{d}"/></svg>')

"""Badges in the shields.io flat style from site_templates/badges/flat.svg.j2: widget/{host}.svg
(best fresh RTT and its region), widget/{host}/{region}.svg, the shields endpoint file
api/v1/badge/{host}.json, and PNGs through cairosvg (BADGE_PNG)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from build.compute.assemble import best_rtt
from build.compute.model import SiteModel, TargetView
from build.render.verdana_widths import text_width_px
from build.render.worker import draw_png

TEMPLATES = Path(__file__).resolve().parents[2] / "site_templates" / "badges"
PADDING_PX = 5
LABEL = "latency"
NO_DATA = "no data"
BADGE_CACHE_S = 300
BADGE_PNG = {"scale": 2}  # cairosvg's options: twice the size, for dense screens
# (upper bound in ms, shields colour name, hex), the first bound above the RTT wins.
COLOURS = (
    (20.0, "brightgreen", "#4c1"),
    (50.0, "green", "#97ca00"),
    (100.0, "yellowgreen", "#a4a61d"),
    (150.0, "yellow", "#dfb317"),
    (250.0, "orange", "#fe7d37"),
    (float("inf"), "red", "#e05d44"),
)
GREY = ("lightgrey", "#9f9f9f")


@dataclass(frozen=True, slots=True)
class Badge:
    label: str
    message: str
    color_name: str
    color_hex: str

    @property
    def label_text_px(self) -> int:
        return _odd(int(text_width_px(self.label)))

    @property
    def message_text_px(self) -> int:
        return _odd(int(text_width_px(self.message)))

    @property
    def label_width(self) -> int:
        return self.label_text_px + 2 * PADDING_PX

    @property
    def message_width(self) -> int:
        return self.message_text_px + 2 * PADDING_PX

    @property
    def width(self) -> int:
        return self.label_width + self.message_width

    # Text is drawn at 10x scale (font-size 110, scale(.1)), as shields does.
    @property
    def label_x(self) -> int:
        return self.label_width * 5

    @property
    def message_x(self) -> int:
        return self.label_width * 10 + self.message_width * 5

    @property
    def label_length(self) -> int:
        return self.label_text_px * 10

    @property
    def message_length(self) -> int:
        return self.message_text_px * 10


def badge_for(label: str, rtt_ms: float | None, region: str | None) -> Badge:
    """A grey "no data" badge when there is no fresh RTT."""
    if rtt_ms is None:
        return Badge(label, NO_DATA, *GREY)
    name, hexa = next((n, h) for bound, n, h in COLOURS if rtt_ms < bound)
    figure = f"{rtt_ms:.1f}" if rtt_ms < 10 else f"{rtt_ms:.0f}"
    return Badge(label, f"{figure} ms" + (f" {region}" if region else ""), name, hexa)


@lru_cache(maxsize=4096)  # region badges repeat: ~660 distinct of ~1,060 a build
def render_badge_svg(badge: Badge) -> bytes:
    return _template().render(b=badge).encode()


def render_badge_png(svg: bytes) -> bytes:
    """The pipeline draws the same in its drawing process (build/render/worker.py)."""
    return draw_png(svg, BADGE_PNG)


def render_badges(model: SiteModel) -> dict[str, bytes]:
    """SVG and endpoint JSON of every target; PNGs are rendered by the pipeline (cached)."""
    out = {}
    for t in model.targets:
        main = _main_badge(t)
        out[t.badge_svg] = render_badge_svg(main)
        out[t.badge_json] = _endpoint_json(main)
        for r in t.regions:
            figure = None if r.stale else best_rtt(r.latest)
            badge = badge_for(f"{LABEL} {r.region}", figure and figure.rtt_ms, None)
            out[r.badge_svg] = render_badge_svg(badge)
    return out


def _main_badge(t: TargetView) -> Badge:
    if t.best is None:
        return badge_for(LABEL, None, None)
    return badge_for(LABEL, t.best.rtt_ms, t.best.region)


def _endpoint_json(b: Badge) -> bytes:
    """shields.io's endpoint schema exactly (it rejects unknown keys, so no generated_at)."""
    doc = {"schemaVersion": 1, "label": b.label, "message": b.message, "color": b.color_name,
           "cacheSeconds": BADGE_CACHE_S}
    return (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _odd(n: int) -> int:
    return n if n % 2 else n + 1  # shields rounds up to odd for pixel-grid alignment


@cache
def _template():
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, keep_trailing_newline=True)
    return env.get_template("flat.svg.j2")

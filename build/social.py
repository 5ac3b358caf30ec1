"""Social cards: a 1200x630 PNG per target (og:image), drawn from an SVG template by cairosvg."""
from __future__ import annotations

from dataclasses import dataclass

import cairosvg
from jinja2 import Environment

from build.html_view import Row, format_ms

CARD_TEMPLATE = "social_card.svg.j2"
BAR_MAX_PX = 820
BAR_TOP_PX = 292
BAR_STEP_PX = 42
# The dark theme's heat colours (site.css), brightened to read on a card.
HEAT_HEX = {"h0": "#2f9e63", "h1": "#6aa83a", "h2": "#b8a72a", "h3": "#d08a2a", "h4": "#d9662e",
            "h5": "#d94a38", "h6": "#c7303a", "nd": "#3a414a"}


@dataclass(frozen=True, slots=True)
class Bar:
    region: str
    y: int
    width: int
    colour: str
    text: str


def card_bars(row: Row, regions: tuple[str, ...]) -> list[Bar]:
    """One bar per region, length proportional to the RTT (the slowest fills BAR_MAX_PX)."""
    values = [c.rtt_ms for c in row.cells]
    top = max((v for v in values if v is not None), default=1.0) or 1.0
    bars = []
    for i, (region, cell, v) in enumerate(zip(regions, row.cells, values)):
        width = 4 if v is None else max(4, int(v / top * BAR_MAX_PX))
        text = "no data" if v is None else f"{format_ms(v)} ms" + (" (stale)" if cell.stale else "")
        bars.append(Bar(region, BAR_TOP_PX + i * BAR_STEP_PX, width, HEAT_HEX.get(cell.heat_class, "#3a414a"), text))
    return bars


def render_social_card(env: Environment, row: Row, regions: tuple[str, ...], when: str) -> bytes:
    """PNG bytes of the card; the text is escaped by the template (autoescape is on)."""
    svg = env.get_template(CARD_TEMPLATE).render(
        name=row.name, host=row.host, category=row.category, bars=card_bars(row, regions), when=when)
    return cairosvg.svg2png(bytestring=svg.encode("utf-8"), output_width=1200, output_height=630)

"""Social cards: a 1200x630 PNG per target (og:image), drawn from an SVG template by cairosvg.

The card carries the target's identity, not live figures: link-preview services cache images
for days, so a number on the card would be stale where it is seen. A card therefore changes
only when the catalog does, so a build reuses last build's PNG for the same SVG.
"""
from __future__ import annotations

from jinja2 import Environment

from build.compute.model import SiteModel

CARD_TEMPLATE = "social_card.svg.j2"
CARD_W_PX, CARD_H_PX = 1200, 630
CARD_PNG = {"output_width": CARD_W_PX, "output_height": CARD_H_PX}  # cairosvg's options
NAME_PX, NAME_MIN_PX, NAME_FIT_CHARS = 72, 36, 28  # long names shrink to stay on the card


def social_path(host: str) -> str:
    return f"social/{host}.png"


def render_social_svgs(env: Environment, model: SiteModel) -> dict[str, str]:
    """Every target's card SVG, by its output path."""
    regions = tuple(r.code for r in model.regions)
    return {social_path(t.host): render_social_svg(env, t.name, t.host, t.category, regions)
            for t in model.targets}


def render_social_svg(env: Environment, name: str, host: str, category: str, regions: tuple[str, ...]) -> str:
    """The card as SVG text; the text is escaped by the template (autoescape is on)."""
    name_px = max(NAME_MIN_PX, min(NAME_PX, NAME_PX * NAME_FIT_CHARS // max(len(name), 1)))
    return env.get_template(CARD_TEMPLATE).render(
        name=name, host=host, category=category, name_px=name_px, regions=" · ".join(regions))

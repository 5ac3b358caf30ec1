"""The PNG drawing process (build/render/worker.py): a child running that module alone draws what
the build process itself would, batch after batch, and a child that fails is a BuildError."""
from __future__ import annotations

import pytest

from build.errors import BuildError
from build.render.badges import BADGE_PNG, badge_for, render_badge_svg
from build.render.html import make_env
from build.render.social import CARD_PNG, render_social_svg
from build.render.worker import draw_png, png_drawer


def test_the_drawing_process_gives_the_pngs_this_process_would_draw():
    badges = [render_badge_svg(badge_for("latency", ms, "fra")) for ms in (4.2, 180.0)]
    card = render_social_svg(make_env(), "Kraken", "api.kraken.com", "Crypto", ("ewr", "fra"))
    with png_drawer() as drawer:
        drawn_badges = drawer.submit(badges, BADGE_PNG)
        drawn_cards = drawer.submit([card.encode()], CARD_PNG)
        assert drawn_badges() == [draw_png(svg, BADGE_PNG) for svg in badges]
        assert drawn_cards() == [draw_png(card.encode(), CARD_PNG)]


def test_a_drawing_process_that_fails_on_its_input_is_a_build_error():
    with png_drawer() as drawer:
        drawn = drawer.submit([b"<not an svg"], BADGE_PNG)
        with pytest.raises(BuildError, match="PNG drawing process"):
            drawn()


def test_a_build_that_draws_nothing_starts_no_drawing_process():
    with png_drawer() as drawer:
        pass
    assert drawer._child is None

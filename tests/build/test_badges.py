"""Badges: shields flat geometry from Verdana 11 px widths, colour thresholds, accessible text,
grey "no data", and PNGs."""
from __future__ import annotations

import pytest

from build.render.badges import Badge, badge_for, render_badge_png, render_badge_svg
from build.render.verdana_widths import text_width_px


@pytest.mark.parametrize("text, px", [("latency", 39.71), ("12 ms fra", 53.32), ("", 0.0)])
def test_text_widths_come_from_the_verdana_table(text, px):
    assert text_width_px(text) == pytest.approx(px, abs=0.01)


@pytest.mark.parametrize("rtt, colour, message", [
    (3.44, "brightgreen", "3.4 ms fra"), (19.9, "brightgreen", "20 ms fra"),
    (20.0, "green", "20 ms fra"), (75.0, "yellowgreen", "75 ms fra"),
    (120.0, "yellow", "120 ms fra"), (200.0, "orange", "200 ms fra"),
    (400.0, "red", "400 ms fra"), (None, "lightgrey", "no data"),
])
def test_colour_by_rtt_thresholds(rtt, colour, message):
    b = badge_for("latency", rtt, "fra")
    assert (b.color_name, b.message) == (colour, message)


def test_svg_has_title_aria_label_and_consistent_widths():
    b = badge_for("latency", 12.0, "fra")
    svg = render_badge_svg(b).decode()
    assert '<title>latency: 12 ms fra</title>' in svg
    assert 'aria-label="latency: 12 ms fra"' in svg
    assert b.label_width == 49 and b.message_width == 63  # 39 and 53 px of text, odd, +10
    assert f'width="{b.width}"' in svg and b.width == 112


def test_text_is_xml_escaped():
    svg = render_badge_svg(Badge("a<b", "x&y", "red", "#e05d44")).decode()
    assert "a&lt;b" in svg and "x&amp;y" in svg


def test_png_is_rendered_from_the_svg():
    png = render_badge_png(render_badge_svg(badge_for("latency", None, None)))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")

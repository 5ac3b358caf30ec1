"""SVG charts and the heat scale: gaps break lines, ticks are round, labels are escaped."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from build.render.charts import ChartSpec, Series, render_line_chart, render_sparkline, split_runs, y_ticks
from build.render.html_view import format_ms, heat_class
from build.render.html import make_env, render_html
from build.render.social import render_social_svg, render_social_svgs
from tests.site.model_fixture import HOSTILE_NAME

SVG = "{http://www.w3.org/2000/svg}"
STEP_S = 900


def day_series(label: str, values) -> Series:
    return Series(label, tuple((i * STEP_S, v) for i, v in enumerate(values)))


def parse(markup) -> ET.Element:
    return ET.fromstring(str(markup).replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def test_runs_break_at_missing_values_and_at_jumps_in_time():
    points = [(0, 1.0), (900, 2.0), (1800, None), (2700, 3.0), (3600, 4.0), (9000, 5.0)]
    assert split_runs(points, max_step_s=1350) == [[(0, 1.0), (900, 2.0)], [(2700, 3.0), (3600, 4.0)], [(9000, 5.0)]]


def test_a_gap_in_the_data_is_a_gap_in_the_line():
    values = [10.0] * 20 + [None] * 5 + [12.0] * 20
    svg = parse(render_line_chart([day_series("fra", values)], ChartSpec("c", "t", 0, 45 * STEP_S)))
    path = next(svg.iter(f"{SVG}path")).get("d")
    assert path.count("M") == 2


def test_missing_rounds_without_none_markers_also_break_the_line():
    s = Series("sin", tuple((ts, 50.0) for ts in [*range(0, 10 * STEP_S, STEP_S), *range(20 * STEP_S, 30 * STEP_S, STEP_S)]))
    svg = parse(render_line_chart([s], ChartSpec("c", "t", 0, 30 * STEP_S)))
    assert next(svg.iter(f"{SVG}path")).get("d").count("M") == 2


def test_chart_has_one_labelled_line_per_region_and_a_text_description():
    series = [day_series(code, [float(i + 1) * 10] * 8) for i, code in enumerate(("ewr", "fra", "sin"))]
    svg = parse(render_line_chart(series, ChartSpec("c24", "Kraken RTT", 0, 8 * STEP_S)))
    assert len([p for p in svg.iter(f"{SVG}path") if "line" in p.get("class")]) == 3
    assert sorted(t.text for t in svg.iter(f"{SVG}text") if "end" in t.get("class", "")) == ["ewr", "fra", "sin"]
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "c24-t c24-d"
    assert "fra: latest 20.0 ms" in svg.find(f"{SVG}desc").text


def test_chart_without_data_says_so():
    svg = parse(render_line_chart([day_series("ewr", [None] * 4)], ChartSpec("c", "t", 0, 4 * STEP_S)))
    assert "no data in this window" in [t.text for t in svg.iter(f"{SVG}text")]


def test_chart_title_and_labels_are_escaped():
    svg = parse(render_line_chart([day_series("<b>", [1.0, 2.0])], ChartSpec("c", HOSTILE_NAME, 0, STEP_S)))
    assert svg.find(f"{SVG}title").text == HOSTILE_NAME


@pytest.mark.parametrize("max_ms, ticks", [
    (0.0, [0.0, 0.5, 1.0]), (3.7, [0, 1, 2, 3, 4]), (237, [0, 100, 200, 300]), (80, [0, 20, 40, 60, 80]),
    (1234, [0, 500, 1000, 1500]),
])
def test_y_axis_ticks_are_round_numbers_covering_the_maximum(max_ms, ticks):
    assert y_ticks(max_ms) == ticks


@pytest.mark.parametrize("rtt_ms, css", [
    (None, "nd"), (0.2, "h0"), (9.99, "h0"), (10, "h1"), (49.9, "h2"), (99, "h3"), (149, "h4"), (249, "h5"), (250, "h6"), (900, "h6"),
])
def test_every_rtt_falls_on_one_colour_scale(rtt_ms, css):
    assert heat_class(rtt_ms) == css


@pytest.mark.parametrize("rtt_ms, text", [(None, "—"), (0.456, "0.46"), (4.25, "4.2"), (42.16, "42.2"), (421.4, "421")])
def test_figures_are_shown_with_three_significant_digits_at_most(rtt_ms, text):
    assert format_ms(rtt_ms) == text


def test_sparkline_breaks_at_missing_rounds_and_describes_itself():
    svg = parse(render_sparkline([1.0, 2.0, None, 3.0, 4.0], "Kraken 24 h"))
    assert next(svg.iter(f"{SVG}path")).get("d").count("M") == 2
    assert svg.get("aria-label") == "Kraken 24 h: 1.0 to 4.0 ms over 24 h, latest 4.0 ms"


def test_social_card_svg_escapes_the_target_name():
    svg = ET.fromstring(render_social_svg(make_env(), HOSTILE_NAME, "evil.example", "Crypto & Co", ("ewr", "fra")))
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert HOSTILE_NAME in texts and "Crypto & Co" in texts


def test_every_target_has_one_social_card_svg(small_model):
    cards = render_social_svgs(make_env(), small_model)
    assert sorted(cards) == sorted(f"social/{t.host}.png" for t in small_model.targets)

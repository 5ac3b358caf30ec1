"""Pages from a database with holes: a target with no data, a region that never reported, gaps,
and an empty database. Every page still renders, parses and says what is missing."""
from __future__ import annotations

from build.compute.assemble import build_site_model
from build.read.inputs import BuildClock, read_inputs
from build.render.html import render_html
from db.connection import connect
from tests.factories import make_db
from tests.site.htmlcheck import NS, parse_strict


def render_from_db(tmp_path, **overrides) -> dict[str, bytes]:
    fixture = make_db(tmp_path, **overrides)
    conn = connect(fixture.path, readonly=True)
    try:
        model = build_site_model(read_inputs(conn, fixture.catalog, BuildClock(fixture.round_ts + 60))).model
    finally:
        conn.close()
    return render_html(model)


def text_of(data: bytes) -> str:
    return " ".join("".join(parse_strict(data).iter(f"{NS}body").__next__().itertext()).split())


def test_a_silent_target_and_a_silent_region_render_as_no_data_and_stale(tmp_path):
    out = render_from_db(tmp_path, silent_targets=("www.nyse.com",), silent_regions=("sin",), gap_rounds=(4, 5))
    for path, data in out.items():
        if path.endswith(".html"):
            parse_strict(data)
    nyse = text_of(out["status/www.nyse.com/index.html"])
    assert "No current measurement" in nyse and "no data in this window" in nyse
    dashboard = text_of(out["status/index.html"])
    assert "Stale data: sin (Singapore), never reported" in dashboard
    regions = text_of(out["regions/index.html"])
    assert "Last round: never reported" in regions and "No measurements from this region." in regions


def test_an_empty_database_still_gives_every_page(tmp_path):
    out = render_from_db(tmp_path, rounds=0)
    for page in ("index.html", "status/index.html", "regions/index.html", "playground/index.html",
                 "status/api.kraken.com/index.html"):
        parse_strict(out[page])
    assert "no data in this window" in out["status/api.kraken.com/index.html"].decode()

"""The built site read back from public/: every page exists, every internal link and asset
resolves, every page parses as strict HTML5, hostile target names are escaped."""
from __future__ import annotations

import gzip

import pytest

from build.render.html import render_html
from tests.site.conftest import HOSTILE_HOST, SITE_TARGETS
from tests.site.htmlcheck import NS, html_pages, ids_of, meta_content, page_links, parse_strict, resolve
from tests.site.model_fixture import HOSTILE_NAME, make_site_model

TOP_PAGES = ("index.html", "status/index.html", "regions/index.html", "playground/index.html",
             "colocation/index.html", "quality/index.html")
DASHBOARD_BUDGET_GZ = 150 * 1024
TARGET_BUDGET_GZ = 80 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_every_page_and_social_card_exists(public_dir):
    for page in TOP_PAGES:
        assert (public_dir / page).is_file(), page
    for t in SITE_TARGETS:
        assert (public_dir / "status" / t.host / "index.html").is_file(), t.host
        assert (public_dir / "social" / f"{t.host}.png").read_bytes().startswith(PNG_MAGIC)


def test_every_page_parses_as_strict_html5(public_dir):
    pages = html_pages(public_dir)
    assert len(pages) == len(TOP_PAGES) + len(SITE_TARGETS)
    for path, data in pages.items():
        parse_strict(data)  # raises on the first parse error, naming line and column


def test_every_internal_link_and_asset_resolves_to_a_file_in_public(public_dir):
    pages = html_pages(public_dir)
    trees = {path: parse_strict(data) for path, data in pages.items()}
    checked, broken = 0, []
    for path, tree in trees.items():
        for link in page_links(path, tree):
            target, fragment = resolve(link)
            assert target is not None, f"{path}: external {link.tag} {link.url}"
            assert not target.startswith(".."), f"{path}: {link.url} leaves public/"
            if not (public_dir / target).is_file():
                broken.append(f"{path}: {link.tag} {link.url}")
            elif fragment and target in trees and fragment not in ids_of(trees[target]) | {"all"}:
                broken.append(f"{path}: {link.url} has no #{fragment}")
            checked += 1
    assert not broken, "\n".join(broken)
    assert checked > 10 * len(pages)


def test_target_names_with_markup_quotes_and_unicode_are_escaped(public_dir):
    for path, data in html_pages(public_dir).items():
        assert b"<script>alert" not in data, path
        tree = parse_strict(data)
        inline = [el for el in tree.iter(f"{NS}script") if not el.get("src")]
        assert inline == [], f"{path}: inline script"
    page = parse_strict((public_dir / "status" / HOSTILE_HOST / "index.html").read_bytes())
    h1 = next(page.iter(f"{NS}h1"))
    assert "".join(h1.itertext()) == HOSTILE_NAME  # shown verbatim, unicode intact
    dashboard = (public_dir / "status" / "index.html").read_text(encoding="utf-8")
    assert "Evil &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;Co&#39; Zürich 東京" in dashboard


def test_target_pages_point_og_image_at_their_social_card(public_dir):
    for t in SITE_TARGETS:
        page = f"status/{t.host}/index.html"
        image = meta_content(parse_strict((public_dir / page).read_bytes()), "og:image")
        assert image == f"../../social/{t.host}.png"


def test_rendering_twice_gives_identical_bytes(small_model):
    assert render_html(small_model) == render_html(small_model)


def _gz(data: bytes) -> int:
    return len(gzip.compress(data, 9))


@pytest.fixture(scope="module")
def big_site():
    return render_html(make_site_model(110))


def test_dashboard_of_110_targets_by_7_regions_fits_150_kb_gzip_with_css_and_js(big_site):
    dashboard = big_site["status/index.html"]
    assert dashboard.count(b"<tr data-q=") == 110
    total = _gz(dashboard) + _gz(big_site["static/site.css"]) + _gz(big_site["static/site.js"])
    print(f"dashboard 110x7: {total / 1024:.1f} KB gzip with CSS and JS")
    assert total <= DASHBOARD_BUDGET_GZ


def test_every_target_page_of_the_110_target_site_fits_80_kb_gzip_with_css_and_js(big_site):
    assets = _gz(big_site["static/site.css"]) + _gz(big_site["static/site.js"])
    sizes = [_gz(data) + assets for path, data in big_site.items()
             if path.startswith("status/") and path.count("/") == 2]
    assert len(sizes) == 110
    print(f"target page: max {max(sizes) / 1024:.1f} KB gzip with CSS and JS")
    assert max(sizes) <= TARGET_BUDGET_GZ


def test_every_page_has_landmarks_labels_and_text_alternatives(public_dir):
    for path, data in html_pages(public_dir).items():
        tree = parse_strict(data)

        def tags(name: str, tree=tree) -> list:
            return list(tree.iter(f"{NS}{name}"))
        assert [len(tags(t)) for t in ("main", "h1", "header", "footer")] == [1, 1, 1, 1], path
        assert all(img.get("alt") for img in tags("img")), path
        ids = ids_of(tree)
        for svg in tree.iter("{http://www.w3.org/2000/svg}svg"):
            if svg.get("role") == "img":
                named_by = (svg.get("aria-labelledby") or "").split()
                assert svg.get("aria-label") or (named_by and set(named_by) <= ids), path
        labelled = {label.get("for") for label in tags("label")}
        for field in tags("input") + tags("select") + tags("textarea"):
            assert field.get("type") == "radio" or field.get("id") in labelled, f"{path}: {field.get('id')}"
        for table in tags("table"):
            assert list(table.iter(f"{NS}th")), f"{path}: table without headers"


def test_a_target_page_names_its_best_region_and_leaves_the_ranking_to_the_keyed_api(small_model, small_site):
    advice = {c.host: c for c in small_model.colocation.targets}
    for t in small_model.targets:
        text = small_site[f"status/{t.host}/index.html"].decode()
        assert advice[t.host].summary in text.replace("&#39;", "'")
        assert "slower" not in text and f"/api/v1/colocation/{t.host}" in text

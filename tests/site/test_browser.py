"""The built site in a real headless Chromium, served by a local HTTP server process: pages load
cleanly, the filter and tabs work, the playground fetches the API; screenshots as artifacts."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.site.conftest import PAGES
from tests.proxy.support import ProxyProcess, new_key
from tests.site.serve import PageWatch, open_page, static_server

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "site"
WIDTHS_PX = (1280, 375)
TIMEOUT_MS = 10_000


@pytest.mark.parametrize("width_px", WIDTHS_PX)
@pytest.mark.parametrize("name", PAGES)
def test_page_loads_with_no_console_error_and_no_failed_request(site, name, width_px):
    page, watch = open_page(site, PAGES[name], width_px)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width_px}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.context.close()
    assert watch.problems == []
    assert overflow <= 0, f"{name} is {overflow}px wider than a {width_px}px screen"


@pytest.mark.parametrize("name", ("dashboard", "target"))
def test_dark_colour_scheme_gives_a_dark_page(site, name):
    page, watch = open_page(site, PAGES[name], scheme="dark")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-dark-1280.png"), full_page=True)
    rgb = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.context.close()
    assert watch.problems == []
    assert sum(int(c) for c in rgb[rgb.index("(") + 1:-1].split(",")[:3]) < 3 * 64, rgb


@pytest.mark.parametrize("age_min, said", [(5, None), (90, "90 minutes"), (5 * 60, "5 hours"), (3 * 1440, "3 days")])
def test_a_page_viewed_long_after_its_build_warns_that_figures_may_be_stale(site, age_min, said):
    base, browser = site
    page = browser.new_context().new_page()
    page.goto(base + PAGES["dashboard"])
    built = page.get_attribute("footer time", "datetime")
    page.clock.install(time=datetime.fromisoformat(built.replace("Z", "+00:00")) + timedelta(minutes=age_min))
    page.reload(wait_until="load")
    banner = page.locator("div.banner", has_text="This page was built")
    assert banner.count() == (0 if said is None else 1)
    if said:
        assert banner.text_content() == f"This page was built {said} ago: the figures may be stale."
    page.context.close()


def wait_for_status(page, code: int) -> None:
    """Waits for the playground's answer; a locator, since the proxy's CSP forbids the eval that
    wait_for_function needs."""
    expect(page.locator("#pg-status")).to_have_text(re.compile(rf"^{code}\b"), timeout=TIMEOUT_MS)


def visible_hosts(page) -> list[str]:
    return page.eval_on_selector_all(
        "table.heat tbody tr", "rows => rows.filter(r => r.offsetParent !== null).map(r => r.querySelector('.host').textContent)")


def test_filter_box_hides_rows_that_do_not_match(site):
    page, watch = open_page(site, PAGES["dashboard"])
    everyone = visible_hosts(page)
    page.fill("#filter", "KRAKEN")
    assert visible_hosts(page) == ["api.kraken.com"]
    page.fill("#filter", "no such target")
    assert visible_hosts(page) == []
    assert page.is_visible("#no-match")
    page.fill("#filter", "")
    assert visible_hosts(page) == everyone
    page.context.close()
    assert watch.problems == []


def test_category_tab_shows_only_that_category(site):
    page, watch = open_page(site, PAGES["dashboard"])
    page.click(".tab[data-cat='exchanges-markets']")
    assert sorted(visible_hosts(page)) == ["www.cmegroup.com", "www.nyse.com"]
    page.click(".tab[data-cat='']")
    assert len(visible_hosts(page)) == 5
    page.context.close()
    assert watch.problems == []


def test_dashboard_shows_every_row_without_javascript(site):
    page, watch = open_page(site, PAGES["dashboard"], js=False)
    assert len(visible_hosts(page)) == 5
    page.context.close()
    assert watch.problems == []


def test_playground_fetches_targets_json_and_shows_it(site, public_dir):
    page, watch = open_page(site, PAGES["playground"])
    page.wait_for_selector("#pg:not([hidden])", timeout=TIMEOUT_MS)
    assert page.eval_on_selector("#pg-endpoint", "s => s.options[s.selectedIndex].text").startswith("api/v1/targets.json")
    assert "api/v1/targets.json" in page.input_value("#pg-curl")
    page.click("#pg button[type=submit]")
    wait_for_status(page, 200)
    shown = json.loads(page.text_content("#pg-body"))
    assert shown == json.loads((public_dir / "api/v1/targets.json").read_bytes())
    assert "content-type: application/json" in page.text_content("#pg-headers")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground-response-1280.png"), full_page=True)
    page.context.close()
    assert watch.problems == []


def test_playground_fills_path_parameters_and_sends_keyed_endpoints_to_the_api_base(site, public_dir):
    page, watch = open_page(site, PAGES["playground"])
    page.wait_for_selector("#pg:not([hidden])", timeout=TIMEOUT_MS)
    option = page.eval_on_selector("#pg-endpoint", "s => [...s.options].find(o => o.text.startsWith('api/v1/latency/{host}.json')).value")
    page.select_option("#pg-endpoint", option)
    page.fill("#pg-p-host", "api.binance.com")
    page.click("#pg button[type=submit]")
    wait_for_status(page, 200)
    assert json.loads(page.text_content("#pg-body")) == json.loads(
        (public_dir / "api/v1/latency/api.binance.com.json").read_bytes())
    keyed = page.eval_on_selector("#pg-endpoint", "s => [...s.options].find(o => o.text.startsWith('api/v1/signals [')).value")
    page.select_option("#pg-endpoint", keyed)
    page.fill("#pg-proxy", "https://api.nettrace.invalid/")
    page.fill("#pg-key", "nt_example")
    curl = page.input_value("#pg-curl")
    assert curl == "curl -sS -i -H 'Authorization: Bearer nt_example' 'https://api.nettrace.invalid/api/v1/signals'"
    page.context.close()
    assert watch.problems == []


def test_the_site_works_from_a_subpath_of_the_host(public_dir, browser):
    with static_server(public_dir.parent) as base:
        for path in ("index.html", PAGES["dashboard"], PAGES["target"], PAGES["playground"]):
            page = browser.new_context().new_page()
            watch = PageWatch(page)
            page.goto(f"{base}{public_dir.name}/{path}", wait_until="load")
            page.wait_for_load_state("networkidle")
            if path == PAGES["playground"]:
                page.click("#pg button[type=submit]")
                wait_for_status(page, 200)
            page.context.close()
            assert watch.problems == [], path


def test_playground_served_by_the_proxy_calls_a_keyed_endpoint_with_and_without_a_key(public_dir, browser):
    db = public_dir.parent / "central.sqlite"
    key = new_key(db, "free", "site-test")
    with ProxyProcess(public_dir, public_dir.parent / "private", db) as proxy:
        base = proxy.url + "/"
        page = browser.new_context().new_page()
        page.goto(base + PAGES["playground"], wait_until="load")
        page.wait_for_selector("#pg:not([hidden])", timeout=TIMEOUT_MS)
        keyed = page.eval_on_selector("#pg-endpoint", "s => [...s.options].find(o => o.text.startsWith('api/v1/targets [')).value")
        page.select_option("#pg-endpoint", keyed)
        page.click("#pg button[type=submit]")
        wait_for_status(page, 401)
        assert "error" in json.loads(page.text_content("#pg-body"))
        page.fill("#pg-key", key)
        page.click("#pg button[type=submit]")
        wait_for_status(page, 200)
        assert [t["host"] for t in json.loads(page.text_content("#pg-body"))["targets"]][0] == "api.kraken.com"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "playground-proxy-1280.png"), full_page=True)
        page.context.close()

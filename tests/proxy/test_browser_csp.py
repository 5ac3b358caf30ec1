"""The site's own pages served by the proxy, under its Content-Security-Policy, in headless
Chromium: every page type runs with no console error and no CSP violation, and a page's script
opens the stream with its key as a subprotocol, as a web dashboard would."""
from __future__ import annotations

import pytest

from tests.conftest import need_tool
from tests.proxy.support import ProxyProcess, new_key
from tests.site.conftest import PAGES, public_dir  # noqa: F401 - the site's fixture
from tests.site.serve import PageWatch, chromium

pytestmark = pytest.mark.browser
# Recorded from the first script of every page on, before the page's own scripts run.
WATCH_CSP = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
             "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
OPEN_STREAM = """([url, key]) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ["nettrace", key]);
    ws.onmessage = (e) => { resolve({protocol: ws.protocol, message: JSON.parse(e.data)}); ws.close(); };
    ws.onerror = () => reject(new Error("the stream refused the connection"));
})"""


@pytest.fixture(scope="module")
def browser():
    """Chromium for this module only: Playwright's sync API keeps an event loop running in this
    thread while it is open, which would break every later test that calls asyncio.run."""
    with chromium(need_tool("chromium", "chromium")) as b:
        yield b


@pytest.fixture(scope="module")
def proxied(public_dir):  # noqa: F811 - the site's fixture
    with ProxyProcess(public_dir, public_dir.parent / "private", public_dir.parent / "central.sqlite") as proxy:
        yield proxy


def open_page(browser, url: str):  # noqa: F811 - the site's fixture
    page = browser.new_context().new_page()
    watch = PageWatch(page)
    page.add_init_script(WATCH_CSP)
    response = page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, watch, response


@pytest.mark.parametrize("name", PAGES)
def test_each_page_type_served_by_the_proxy_runs_under_its_csp_with_no_console_error(
        proxied, browser, name):  # noqa: F811 - the site's fixture
    page, watch, response = open_page(browser, f"{proxied.url}/{PAGES[name]}")
    violations = page.evaluate("window.__csp")
    page.context.close()
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert watch.problems == [] and violations == []


def test_a_page_script_opens_the_stream_with_its_key_as_a_subprotocol(proxied, browser):  # noqa: F811
    page, watch, _ = open_page(browser, f"{proxied.url}/{PAGES['dashboard']}")
    first = page.evaluate(OPEN_STREAM, [proxied.url.replace("http", "ws", 1) + "/api/v1/stream",
                                        new_key(proxied.db, "enterprise")])
    violations = page.evaluate("window.__csp")
    page.context.close()
    assert first["protocol"] == "nettrace" and first["message"]["type"] == "subscribed"
    assert watch.problems == [] and violations == []

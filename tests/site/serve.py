"""A real static HTTP server process on 127.0.0.1 (python -m http.server on port 0) and a
headless Debian Chromium driven by Playwright, for the browser tests."""
from __future__ import annotations

import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STARTUP_TIMEOUT_S = 10


@contextmanager
def static_server(directory: Path):
    """Yields the base URL of a `python -m http.server` process serving directory."""
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(directory)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        match = re.search(r"port (\d+)", line)
        if not match:
            raise RuntimeError(f"http.server did not start: {line!r}")
        yield f"http://127.0.0.1:{match.group(1)}/"
    finally:
        proc.terminate()
        proc.wait(timeout=STARTUP_TIMEOUT_S)


@contextmanager
def chromium(executable: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(site, path: str, width_px: int = 1280, js: bool = True, scheme: str = "light"):
    """(page, PageWatch) of path on site = (base URL, browser), loaded and idle; close page.context."""
    base, browser = site
    context = browser.new_context(viewport={"width": width_px, "height": 900}, java_script_enabled=js,
                                  color_scheme=scheme)
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(base + path, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, watch


class PageWatch:
    """Collects console errors, page errors and failed or non-2xx/3xx requests of one page."""

    def __init__(self, page):
        self.problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))

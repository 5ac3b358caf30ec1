"""Fixtures of the site tests: a generated model, a whole public/ built from the shared fixture
database (make_db), with a target whose name carries markup, quotes and unicode, a region that
missed the latest round and a target with open signals; that site served to headless Chromium."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from build.render.html import render_html
from collect.records import Target
from tests.conftest import need_tool
from tests.factories import TARGETS, make_db
from tests.site.model_fixture import HOSTILE_NAME, make_site_model
from tests.site.serve import chromium, static_server

HOSTILE_HOST = "evil.example.com"
SITE_TARGETS = (*(Target(t.host, t.name, t.category, calendar="XNYS") if t.host == "www.nyse.com"
                  else t for t in TARGETS), Target(HOSTILE_HOST, HOSTILE_NAME, "Crypto Exchanges"))
PAGES = {"dashboard": "status/index.html", "target": "status/api.kraken.com/index.html",
         "landing": "index.html", "playground": "playground/index.html", "regions": "regions/index.html",
         "colocation": "colocation/index.html", "quality": "quality/index.html",
         "hostile": f"status/{HOSTILE_HOST}/index.html",
         "session": "status/www.nyse.com/index.html"}  # one of each page type; a market calendar


@pytest.fixture(scope="session")
def small_model():
    return make_site_model(6)


@pytest.fixture(scope="session")
def small_site(small_model) -> dict[str, bytes]:
    return render_html(small_model)


def nettrace_build(db: Path, catalog: Path, public: Path, private: Path, now_ts: int) -> subprocess.CompletedProcess:
    """The real build pipeline, as the CDN job runs it."""
    cmd = [sys.executable, "-m", "nettrace", "build", "--db", str(db), "--targets", str(catalog),
           "--out", str(public), "--private", str(private), "--no-cache", "--now", str(now_ts)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def public_dir(tmp_path_factory) -> Path:
    """public/ as `nettrace build` writes it from make_db's database (HTML, JSON, widgets, metrics):
    sin missed the latest round (stale figures everywhere), Kraken's RTT from ewr shifted up."""
    tmp = tmp_path_factory.mktemp("site")
    fixture = make_db(tmp, targets=SITE_TARGETS, late_regions=("sin",), rounds=48,
                      shift=("api.kraken.com", "ewr", 40.0, 43))
    catalog = tmp / "targets.toml"
    catalog.write_text(render_catalog(fixture.catalog), encoding="utf-8")
    result = nettrace_build(fixture.path, catalog, tmp / "public", tmp / "private", fixture.round_ts + 60)
    assert result.returncode == 0, result.stderr
    return tmp / "public"


@pytest.fixture(scope="session")
def browser():
    with chromium(need_tool("chromium", "chromium")) as b:
        yield b


@pytest.fixture(scope="session")
def site(public_dir, browser):
    """(base URL of public_dir served over HTTP, the browser)."""
    with static_server(public_dir) as base:
        yield base, browser


def render_catalog(catalog) -> str:
    """targets.toml text for a Catalog, so the CLI reads the same catalog the database holds."""
    lines = ["categories = [" + ", ".join(toml_str(c) for c in catalog.categories) + "]", ""]
    for r in catalog.regions:
        lines += [f"[regions.{r.code}]", f"city = {toml_str(r.city)}", f"note = {toml_str(r.note)}",
                  f"lat = {r.lat}", f"lon = {r.lon}", ""]
    for t in catalog.targets:
        lines += ["[[targets]]", f"host = {toml_str(t.host)}", f"name = {toml_str(t.name)}",
                  f"category = {toml_str(t.category)}"]
        lines += [f"calendar = {toml_str(t.calendar)}", ""] if t.calendar else [""]
    return "\n".join(lines)


def toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'

"""Accessibility and validity of every page type: axe-core (WCAG 2.1 A and AA, and Deque's best
practices) in headless Chromium, light and dark, finds no violation; the W3C Nu HTML checker
(vnu.jar, run by Java) finds no error."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.conftest import need, need_tool
from tests.site.conftest import PAGES
from tests.site.serve import open_page

AXE_RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
             "resultTypes": ["violations"]}
VNU_JAR = Path(__file__).resolve().parents[2] / ".cache/npm/node_modules/vnu-jar/build/dist/vnu.jar"
VNU_TIMEOUT_S = 120


def axe_report(violations: list[dict]) -> str:
    """One line per failing node: rule, impact, CSS selector, and axe's first reason."""
    lines = []
    for v in violations:
        for node in v["nodes"]:
            checks = node.get("any", []) + node.get("all", []) + node.get("none", [])
            why = checks[0]["message"] if checks else v["help"]
            lines.append(f"{v['id']} ({v['impact']}) at {' '.join(map(str, node['target']))}: {why}")
    return "\n".join(lines)


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ("light", "dark"))
@pytest.mark.parametrize("name", PAGES)
def test_axe_finds_no_wcag_21_aa_or_best_practice_violation(site, name, scheme):
    page, watch = open_page(site, PAGES[name], scheme=scheme)
    result = Axe().run(page, options=AXE_RULES).response
    page.context.close()
    assert watch.problems == []
    assert result["violations"] == [], f"{PAGES[name]} ({scheme}):\n" + axe_report(result["violations"])


def test_the_nu_html_checker_finds_no_error_on_any_page(public_dir):
    java = need_tool("java", "default-jre-headless")
    need(VNU_JAR.is_file(), f"needs {VNU_JAR} (npm package vnu-jar; `make test` installs it)")
    pages = sorted(str(p) for p in public_dir.rglob("*.html"))
    assert {str(public_dir / path) for path in PAGES.values()} <= set(pages)
    run = subprocess.run([java, "-jar", str(VNU_JAR), "--format", "json", "--exit-zero-always", *pages],
                         capture_output=True, text=True, timeout=VNU_TIMEOUT_S)
    messages = json.loads(run.stderr)["messages"]
    errors = [f"{m['url'].removeprefix(public_dir.as_uri())}:{m.get('lastLine', '?')}: {m['message']}"
              for m in messages if m["type"] in ("error", "non-document-error")]
    assert not errors, "\n".join(errors)

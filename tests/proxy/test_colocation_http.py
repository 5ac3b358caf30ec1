"""Colocation, trading-session figures and the in_session filter over HTTP, on a real build: the
best regions are free, the full rankings, venue pairs and 7/30-day session figures Pro (a free
key gets 403), and ?in_session= splits the signal events by whether they opened in session."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from build.pipeline import BuildOptions, run_build
from build.read.inputs import BuildClock
from collect.records import Target
from collect.targets import category_slug
from tests.factories import TARGETS, make_db
from tests.proxy.support import ProxyProcess, new_key

NYSE = "www.nyse.com"
CATEGORY = "Exchanges & Markets"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """NYSE (on its calendar) 40 ms slower from ewr from 18:15 UTC, in session, and a spike
    from fra at 21:45, after the close; built, then served."""
    tmp = tmp_path_factory.mktemp("colocation")
    targets = tuple(Target(t.host, t.name, t.category, calendar="XNYS") if t.host == NYSE else t
                    for t in TARGETS)
    fx = make_db(tmp, targets=targets, rounds=56, shift=(NYSE, "ewr", 40.0, 40),
                 spike=(NYSE, "fra", 60.0))
    run_build(BuildOptions(fx.path, tmp / "public", tmp / "private", fx.catalog,
                           BuildClock(fx.round_ts + 30)))
    keys = {tier: new_key(fx.path, tier) for tier in ("free", "pro")}
    with ProxyProcess(tmp / "public", tmp / "private", fx.path) as proc:
        yield proc, keys, tmp


def _get(proc, key: str, path: str) -> httpx.Response:
    return httpx.get(proc.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _file(root: Path, rel: str) -> dict:
    return json.loads((root / rel).read_bytes())


def test_every_targets_best_region_is_free(served):
    proc, keys, tmp = served
    r = _get(proc, keys["free"], "/api/v1/colocation")
    assert r.status_code == 200 and r.json() == _file(tmp, "public/api/v1/colocation.json")
    assert set(r.json()["targets"]) == {t.host for t in TARGETS}


@pytest.mark.parametrize("path", [f"/api/v1/colocation/{NYSE}", "/api/v1/colocation/pairs",
                                  "/api/v1/colocation/pairs?category=Exchanges%20%26%20Markets",
                                  f"/api/v1/sessions/{NYSE}"])
def test_a_free_key_gets_403_naming_pro_on_rankings_pairs_and_session_figures(served, path):
    proc, keys, _ = served
    r = _get(proc, keys["free"], path)
    assert r.status_code == 403, r.text
    assert (r.json()["error"], r.json()["required_tier"]) == ("tier_required", "pro")


def test_pro_gets_the_full_ranking_and_the_pairs_of_all_or_one_category(served):
    proc, keys, tmp = served
    ranking = _get(proc, keys["pro"], f"/api/v1/colocation/{NYSE}")
    assert ranking.json() == _file(tmp, f"private/api/v1/colocation/{NYSE}.json")
    every = _get(proc, keys["pro"], "/api/v1/colocation/pairs")
    assert every.json() == _file(tmp, "private/api/v1/colocation/pairs.json")
    one = _get(proc, keys["pro"], "/api/v1/colocation/pairs?category=Exchanges%20%26%20Markets")
    slug = category_slug(CATEGORY)
    assert one.json() == _file(tmp, f"private/api/v1/colocation/pairs/{slug}.json")
    assert [(p["a"], p["b"]) for p in one.json()["pairs"]] == [(NYSE, "www.cmegroup.com")]


@pytest.mark.parametrize("path, code", [
    ("/api/v1/colocation/pairs?category=Nowhere", "unknown_category"),
    ("/api/v1/colocation/no.such.example", "unknown_target"),
    ("/api/v1/sessions/no.such.example", "unknown_target"),
])
def test_unknown_categories_and_targets_answer_404_json(served, path, code):
    proc, keys, _ = served
    r = _get(proc, keys["pro"], path)
    assert (r.status_code, r.json()["error"]) == (404, code)


def test_pro_gets_the_7_and_30_day_session_figures(served):
    proc, keys, tmp = served
    r = _get(proc, keys["pro"], f"/api/v1/sessions/{NYSE}")
    assert r.json() == _file(tmp, f"private/api/v1/sessions/{NYSE}.json")
    assert set(r.json()["windows"]) == {"24h", "7d", "30d"} and r.json()["calendar"] == "XNYS"


@pytest.mark.parametrize("path", ["/api/v1/signals", "/api/v1/signals/history"])
def test_in_session_splits_the_signal_events_by_their_onset(served, path):
    proc, keys, _ = served
    every = _get(proc, keys["pro"], path).json()["signals"]
    inside = _get(proc, keys["pro"], path + "?in_session=true").json()["signals"]
    outside = _get(proc, keys["pro"], path + "?in_session=false").json()["signals"]
    assert sorted(e["id"] for e in inside + outside) == sorted(e["id"] for e in every)
    assert {(e["type"], e["target"], e["region"]) for e in inside} >= {("level_shift", NYSE, "ewr")}
    assert {(e["type"], e["target"], e["region"]) for e in outside} >= {("spike", NYSE, "fra")}
    assert all(e["in_session"] for e in inside) and not any(e["in_session"] for e in outside)
    bad = _get(proc, keys["pro"], path + "?in_session=maybe")
    assert (bad.status_code, bad.json()["error"]) == (400, "bad_parameter")

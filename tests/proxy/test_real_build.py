"""End to end on a real build: `nettrace build` over the shared fixture database, then the proxy
serving its public/ and private/ to every tier, with the build's own formats."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from openapi_spec_validator import validate

from api.openapi import openapi_document
from tests.factories import make_db
from tests.proxy.support import ROOT, ProxyProcess, new_key

HOST = "api.kraken.com"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real")
    fixture = make_db(tmp)
    run = subprocess.run([sys.executable, "-m", "nettrace", "build", "--db", str(fixture.path),
                          "--out", str(tmp / "public"), "--private", str(tmp / "private"),
                          "--targets", str(ROOT / "targets.toml"), "--cache", str(tmp / "cache"),
                          "--now", str(fixture.round_ts)],
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    clock = tmp / "clock"
    clock.write_text(str(fixture.round_ts))
    keys = {t: new_key(fixture.path, t) for t in ("free", "pro", "enterprise")}
    proc = ProxyProcess(tmp / "public", tmp / "private", fixture.path, clock_file=clock).start()
    yield proc, keys, tmp
    proc.stop()


def _get(proc, key, path):
    return httpx.get(proc.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_every_keyed_endpoint_answers_an_enterprise_key_from_the_real_build(built):
    proc, keys, _ = built
    for path in ("/api/v1/targets", f"/api/v1/latency/{HOST}", f"/api/v1/latency/{HOST}/history",
                 "/api/v1/rankings?category=Crypto%20Exchanges", "/api/v1/rankings", "/api/v1/signals",
                 "/api/v1/signals/history", f"/api/v1/routes/{HOST}",
                 f"/api/v1/compare?targets={HOST},api.binance.com", "/api/v1/export?format=jsonl"):
        r = _get(proc, keys["enterprise"], path)
        assert r.status_code == 200, (path, r.text[:300])


def test_history_hours_cut_the_builds_regular_series(built):
    proc, keys, _ = built
    six = _get(proc, keys["free"], f"/api/v1/latency/{HOST}/history?hours=6").json()
    day = _get(proc, keys["free"], f"/api/v1/latency/{HOST}/history").json()
    series6 = next(s for r in six["regions"].values() for s in r.values())
    series24 = next(s for r in day["regions"].values() for s in r.values())
    assert len(series6["rtt_ms"]) * 4 == len(series24["rtt_ms"])
    assert series6["rtt_ms"] == series24["rtt_ms"][-len(series6["rtt_ms"]):]
    month = _get(proc, keys["pro"], f"/api/v1/latency/{HOST}/history")
    assert month.headers["x-nettrace-window-hours"] == "720"


def test_compare_keeps_only_the_asked_targets_of_the_builds_compare_file(built):
    proc, keys, _ = built
    doc = _get(proc, keys["pro"], f"/api/v1/compare?targets={HOST},api.binance.com").json()
    assert set(doc["targets"]) == {HOST, "api.binance.com"}


def test_free_files_badges_metrics_and_pages_of_the_build_are_served(built):
    proc, _, tmp = built
    widget = httpx.get(f"{proc.url}/widget/{HOST}")
    assert widget.status_code == 200 and widget.headers["content-type"] == "image/svg+xml"
    assert httpx.get(proc.url + "/metrics").text.startswith("# HELP")
    assert httpx.get(f"{proc.url}/status/{HOST}/").headers["content-type"].startswith("text/html")
    assert httpx.get(proc.url + "/").status_code == 200
    assert httpx.get(proc.url + "/api/v1/").json()["endpoints"]
    for path in (f"latency/{HOST}.json", f"latency/{HOST}/history.json", f"badge/{HOST}.json"):
        free = httpx.get(f"{proc.url}/api/v1/{path}")  # not taken for a host named '….json'
        assert free.status_code == 200 and "x-ratelimit-reset" not in free.headers, path
        assert free.json() == json.loads((tmp / "public/api/v1" / path).read_text())


def test_the_proxy_serves_the_builds_openapi_which_is_the_contracts_document(built):
    proc, _, tmp = built
    spec = json.loads((tmp / "public/api/v1/openapi.json").read_text())
    validate(spec)
    assert httpx.get(proc.url + "/api/v1/openapi.json").json() == spec
    assert spec == openapi_document(0) | {"x-generated-at": spec["x-generated-at"]}

"""openapi.json is valid OpenAPI 3.1 and, with index.json, documents every CDN file and keyed
proxy endpoint with its tier."""
from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from build.render.api_docs import ENDPOINTS, render_index
from build.compute.assemble import BuildClock, build_site_model
from build.render.openapi import render_openapi
from db.connection import connect
from tests.factories import make_db

PROXY_PATHS = {"/api/v1/targets", "/api/v1/latency/{host}", "/api/v1/latency/{host}/history",
               "/api/v1/rankings", "/api/v1/signals", "/api/v1/routes/{host}", "/api/v1/compare",
               "/api/v1/export", "/api/v1/stream"}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    fx = make_db(tmp_path_factory.mktemp("docs"))
    conn = connect(fx.path, readonly=True)
    yield build_site_model(conn, fx.catalog, BuildClock(fx.round_ts + 30)).model
    conn.close()


def test_openapi_document_validates_as_3_1(model):
    doc = json.loads(render_openapi(model)["api/v1/openapi.json"])
    validate(doc)
    assert doc["openapi"] == "3.1.0"


def test_openapi_describes_cdn_files_and_every_proxy_endpoint_with_tiers(model):
    doc = json.loads(render_openapi(model)["api/v1/openapi.json"])
    ops = {path: item["get"] for path, item in doc["paths"].items()}
    assert PROXY_PATHS <= set(ops)
    assert ops["/api/v1/export"]["x-tier"] == "enterprise"
    assert ops["/api/v1/routes/{host}"]["x-tier"] == "pro"
    assert ops["/api/v1/routes/{host}"]["security"] == [{"apiKey": []}]
    assert ops["/api/v1/latency/{host}.json"]["security"] == []
    assert "429" in ops["/api/v1/signals"]["responses"]


def test_index_lists_every_endpoint_with_tier_and_a_concrete_example(model):
    doc = json.loads(render_index(model)["api/v1/index.json"])
    assert [e["path"] for e in doc["endpoints"]] == [e.path for e in ENDPOINTS]
    by_path = {e["path"]: e for e in doc["endpoints"]}
    assert by_path["/api/v1/compare"]["example"] == (
        "/api/v1/compare?targets=api.kraken.com,api.binance.com")
    assert by_path["/api/v1/stream"]["tier"] == "enterprise"
    assert doc["tiers"]["free"]["calls_per_day"] == 100

"""The build's api/v1/index.json and openapi.json both come from the contract (api/contract.py):
every CDN file and keyed proxy endpoint with its tier, a concrete example, and valid OpenAPI."""
from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from api.contract import ENDPOINTS
from api.openapi import openapi_document
from build.compute.assemble import build_site_model
from build.read.inputs import BuildClock, read_inputs
from build.render.api_docs import render_index, render_openapi
from db.connection import connect
from tests.factories import make_db


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    fx = make_db(tmp_path_factory.mktemp("docs"))
    conn = connect(fx.path, readonly=True)
    yield build_site_model(read_inputs(conn, fx.catalog, BuildClock(fx.round_ts + 30))).model
    conn.close()


def test_the_built_openapi_json_is_the_contracts_document_stamped_with_the_build_time(model):
    doc = json.loads(render_openapi(model)["api/v1/openapi.json"])
    validate(doc)
    assert doc == openapi_document(model.generated_at)
    assert doc["x-generated-at"] == "2026-11-25T22:00:00Z"


def test_openapi_describes_cdn_files_and_proxy_endpoints_with_their_tiers(model):
    doc = json.loads(render_openapi(model)["api/v1/openapi.json"])
    ops = {path: item["get"] for path, item in doc["paths"].items() if "get" in item}
    assert ops["/api/v1/export"]["x-tier"] == "enterprise"
    assert ops["/api/v1/routes/{host}"]["x-tier"] == "pro"
    assert ops["/api/v1/colocation"]["x-tier"] == "free"
    assert ops["/api/v1/colocation/pairs"]["x-tier"] == "pro"
    assert ops["/api/v1/routes/{host}"]["security"] == [{"apiKey": []}]
    assert ops["/api/v1/latency/{host}.json"]["security"] == []
    assert "429" in ops["/api/v1/signals"]["responses"]
    assert "/api/v1/stream" not in ops and "/api/v1/stream" in doc["info"]["description"]


def test_the_signals_answer_documents_the_event_shape(model):
    doc = json.loads(render_openapi(model)["api/v1/openapi.json"])
    event = doc["components"]["schemas"]["SignalEvent"]
    assert {"id", "type", "target", "region", "regions", "scope", "probe", "started_at",
            "ended_at", "status", "before_ms", "during_ms", "peak_z", "severity", "description",
            "detail", "in_session"} == set(event["properties"])
    assert event["properties"]["status"]["enum"] == ["open", "resolved"]
    assert event["properties"]["ended_at"]["type"] == ["string", "null"]


def test_index_lists_every_endpoint_with_tier_and_a_concrete_example(model):
    doc = json.loads(render_index(model)["api/v1/index.json"])
    assert [e["path"] for e in doc["endpoints"]] == [e.path for e in ENDPOINTS]
    by_path = {e["path"]: e for e in doc["endpoints"]}
    assert by_path["/api/v1/compare"]["example"] == (
        "/api/v1/compare?targets=api.kraken.com,api.binance.com")
    assert by_path["/widget/{host}/{region}.svg"]["example"].startswith("/widget/api.kraken.com/")
    assert by_path["/api/v1/stream"]["tier"] == "enterprise"
    assert by_path["/api/v1/latency/{host}/history"]["params"][1] == {
        "name": "hours", "in": "query", "type": "integer", "description": "hours back, 1..2160"}
    assert doc["tiers"]["free"] == {"calls_per_day": 100, "history_hours": 24}

"""The proxy enforces the contract (api/contract.py) and serves its one OpenAPI document, against
which schemathesis finds no failure on the running server (every check, positive and negative
data)."""
from __future__ import annotations

import subprocess

import httpx

from api.contract import ENDPOINTS, TIERS
from api.openapi import openapi_document
from tests.conftest import need
from tests.proxy.support import HOSTS, ROOT

ST = ROOT / ".venv" / "bin" / "st"
ORDER = list(TIERS)
KEYED = [e for e in ENDPOINTS if e.served_by == "proxy"]


def _example(path: str) -> str:
    return path.format(host=HOSTS[0], host2=HOSTS[1], slug="crypto-exchanges", day="2026-11-25",
                       webhook_id="wh_0123456789ABCDEFGHIJ")


def test_the_proxy_serves_the_contracts_document_when_the_build_has_none(server):
    served = httpx.get(server.url + "/api/v1/openapi.json").json()
    assert served.pop("x-generated-at")
    expected = openapi_document(0)
    del expected["x-generated-at"]
    assert served == expected


def test_every_keyed_endpoint_answers_each_tier_as_the_contract_says(server, keys):
    with httpx.Client(base_url=server.url) as client:
        for e in KEYED:
            url = _example(e.path + e.query_example)
            assert client.request(e.method, url).status_code == 401, url
            for tier, key in keys.items():
                r = client.request(e.method, url, headers={"Authorization": f"Bearer {key}"})
                if ORDER.index(tier) >= ORDER.index(e.tier):
                    assert r.status_code != 403, (url, tier, r.text)
                else:
                    assert (r.status_code, r.json()["required_tier"]) == (403, e.tier), (url, tier)


def test_schemathesis_finds_no_failure_against_the_running_server(server, keys, tmp_path):
    need(ST.exists(), "needs schemathesis in .venv (make test installs it)")
    spec = tmp_path / "openapi.json"
    spec.write_text(httpx.get(server.url + "/api/v1/openapi.json").text)
    # A schema-valid webhook URL is still refused (400) when its host does not resolve to a
    # public address, which no schema can say.
    config = tmp_path / "schemathesis.toml"
    config.write_text('[[operations]]\ninclude-operation-id = "proxyPostWebhooks"\n'
                      'checks.positive_data_acceptance.expected-statuses = ["201", "400", "409"]\n'
                      'checks.negative_data_rejection.expected-statuses = ["400", "409", "413"]\n')
    run = subprocess.run(
        [str(ST), "--config-file", str(config), "run", str(spec), "--url", server.url,
         "--checks", "all", "--max-examples", "25",
         "--seed", "7", "--generation-database", "none", "--no-color",
         "-H", f"Authorization: Bearer {keys['enterprise']}"],
        capture_output=True, text=True, timeout=280, cwd=tmp_path)
    tail = "\n".join(run.stdout.splitlines()[-40:])
    assert run.returncode == 0, tail
    assert "failed" not in tail.split("SUMMARY")[-1].lower(), tail

"""The proxy's OpenAPI 3.1 description is valid and schemathesis finds no failure against the
running server (every check, positive and negative data)."""
from __future__ import annotations

import subprocess

import httpx
from openapi_spec_validator import validate

from proxy.openapi import build_spec
from tests.conftest import need
from tests.proxy.support import ROOT

ST = ROOT / ".venv" / "bin" / "st"


def test_the_spec_is_valid_openapi_3_1_and_served_when_the_build_has_none(server):
    spec = build_spec()
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert httpx.get(server.url + "/api/v1/openapi.json").json() == spec


def test_schemathesis_finds_no_failure_against_the_running_server(server, keys, tmp_path):
    need(ST.exists(), "needs schemathesis in .venv (make test installs it)")
    spec = tmp_path / "openapi.json"
    spec.write_text(httpx.get(server.url + "/api/v1/openapi.json").text)
    run = subprocess.run(
        [str(ST), "run", str(spec), "--url", server.url, "--checks", "all", "--max-examples", "25",
         "--seed", "7", "--generation-database", "none", "--no-color",
         "-H", f"Authorization: Bearer {keys['enterprise']}"],
        capture_output=True, text=True, timeout=280, cwd=tmp_path)
    tail = "\n".join(run.stdout.splitlines()[-40:])
    assert run.returncode == 0, tail
    assert "failed" not in tail.split("SUMMARY")[-1].lower(), tail

"""The one OpenAPI document passes `redocly lint` (the recommended ruleset of @redocly/cli, which
`make test` installs from npm into .cache/npm) with no error and no warning."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from openapi_spec_validator import validate

from api.openapi import openapi_document
from tests.conftest import need

REDOCLY = Path(__file__).resolve().parents[2] / ".cache" / "npm" / "node_modules" / ".bin" / "redocly"


def test_the_document_is_valid_openapi_3_1():
    validate(openapi_document(1_795_644_000))


def test_redocly_recommended_lint_finds_no_error_and_no_warning(tmp_path):
    need(REDOCLY.exists(), "needs @redocly/cli from npm (`make test` installs it into .cache/npm)")
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(openapi_document(1_795_644_000), indent=1))
    env = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}
    run = subprocess.run([str(REDOCLY), "lint", "--extends=recommended", "--format=json", str(spec)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    report = json.loads(run.stdout)
    problems = [(p["ruleId"], p["message"], [loc.get("pointer") for loc in p["location"]])
                for p in report["problems"]]
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, problems
    assert run.returncode == 0, run.stderr[-2000:]

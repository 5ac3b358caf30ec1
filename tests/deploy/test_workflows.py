""".github/workflows: valid against GitHub's workflow schema (vendored by check-jsonschema), their
shell steps pass shellcheck, and they do what the deploy design says."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import need_tool

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
ROUND_MINUTES = 15
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def load(name: str) -> dict:
    wf = yaml.safe_load((WORKFLOWS / name).read_text())
    wf["on"] = wf.pop(True, wf.get("on"))  # YAML 1.1 reads the key `on` as true
    return wf


def steps(wf: dict) -> list[dict]:
    return [step for job in wf["jobs"].values() for step in job["steps"]]


def test_both_workflows_exist():
    assert [p.name for p in FILES] == ["ci.yml", "publish.yml"]


@pytest.mark.parametrize("schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"])
def test_workflows_validate_against_the_github_workflow_schema(schema):
    checker = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run([str(checker), "--builtin-schema", schema, *map(str, FILES)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_run_step_passes_shellcheck(path, tmp_path):
    shellcheck = need_tool("shellcheck", "shellcheck")
    for i, step in enumerate(steps(load(path.name))):
        if "run" not in step:
            continue
        # GitHub runs steps with bash -e; expressions are substituted before the shell sees them.
        script = tmp_path / f"step{i}.sh"
        script.write_text("#!/bin/bash\nset -eo pipefail\n" + EXPRESSION.sub("x", step["run"]))
        done = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{path.name} step {step.get('name', i)}:\n{done.stdout}"


def test_ci_runs_make_test_on_push_and_pull_request_on_both_pythons():
    wf = load("ci.yml")
    assert {"push", "pull_request"} <= set(wf["on"])
    assert [s["run"] for s in steps(wf) if "run" in s] == ["make test"]
    assert wf["jobs"]["test"]["strategy"]["matrix"]["python"] == ["3.11", "3.12"]


def test_publish_runs_every_15_minutes_off_the_hour_and_by_hand():
    wf = load("publish.yml")
    [schedule] = wf["on"]["schedule"]
    minute, *rest = schedule["cron"].split()
    minutes = [int(m) for m in minute.split(",")]
    assert rest == ["*", "*", "*", "*"]
    assert 0 not in minutes
    assert [b - a for a, b in zip(minutes, minutes[1:])] == [ROUND_MINUTES] * 3
    assert "workflow_dispatch" in wf["on"]
    assert wf["permissions"] == {"contents": "write"}
    assert wf["concurrency"]["cancel-in-progress"] is False


def test_publish_builds_from_the_snapshot_and_publishes_through_build_publish():
    runs = [s.get("run", "") for s in steps(load("publish.yml"))]
    build = next(r for r in runs if r.startswith("nettrace build"))
    assert "--db snapshot.db" in build and "--out public" in build
    assert any("python -m build.publish public" in r for r in runs)
    assert not any("ghp-import" in r for r in runs), "publishing goes through the partial-build guard"
    snapshot = next(r for r in runs if "/api/v1/export?" in r)  # the enterprise bulk export
    assert "format=jsonl" in snapshot and "nettrace ingest import results.jsonl --db snapshot.db" in snapshot


def test_the_workflows_pass_zizmor_offline_with_no_findings():
    zizmor = Path(sys.executable).with_name("zizmor")
    done = subprocess.run([str(zizmor), "--offline", "--format", "plain", str(WORKFLOWS)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_and_leaves_no_credentials_behind(path):
    for step in steps(load(path.name)):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_publish_gives_git_the_token_only_in_its_steps_and_only_from_the_environment(tmp_path):
    wf = load("publish.yml")
    job_env = wf["jobs"]["publish"]["env"]
    with_token = [s.get("name") for s in steps(wf) if "GH_TOKEN" in s.get("env", {})]
    assert with_token == ["Is the central publisher down?",
                          "Publish with ghp-import (a partial build is refused)"]
    # The job's credential helper, run by git itself: the token comes from the step's
    # environment, and a step without it gets no credentials at all.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
           **job_env}
    fill = "protocol=https\nhost=github.com\npath=o/r.git\n\n"
    for token, expected in (("tok-123", "password=tok-123"), ("", "password=")):
        done = subprocess.run(["git", "credential", "fill"], input=fill, capture_output=True,
                              text=True, env={**env, "GH_TOKEN": token, "GIT_TERMINAL_PROMPT": "0"})
        if token:
            assert done.returncode == 0 and expected in done.stdout.splitlines(), done.stderr
        else:
            assert done.returncode != 0 and "password" not in done.stdout

"""fly/deploy.sh, run for real: --dry-run's plan, and idempotency against a recording flyctl.

The recording flyctl keeps apps, volumes and secrets in folders and answers the few queries
deploy.sh makes (its --json shapes follow flyctl's: a list of objects with a "name"). It checks
deploy.sh's logic (what it creates, which secrets it makes and shares, what a rerun does), not
Fly itself.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "fly" / "deploy.sh"
REGIONS = sorted(p.stem.removeprefix("collector-") for p in (ROOT / "fly").glob("collector-*.toml"))
CENTRAL = "nettrace-central"
NO_FLYCTL = "flyctl-not-installed"
HEX_SECRET = re.compile(r"\b[0-9a-f]{64}\b")
VOLUME_GB = int(re.search(r"^VOLUME_GB=(\d+)", DEPLOY.read_text(), re.MULTILINE).group(1))

FAKE_FLYCTL = r"""#!/usr/bin/env bash
# A recording flyctl: apps, volumes and secrets as folders and files beside this script.
set -eu
S="$(dirname "$0")/state"
mkdir -p "$S/apps"
printf '%s\n' "$*" >> "$S/log"
app="" size="" prev=""
for a in "$@"; do
  [ "$prev" != "--app" ] || app="$a"
  [ "$prev" != "--size" ] || size="$a"
  prev="$a"
done
names() {  # names DIR KEY: a JSON list of {"KEY": file name} (flyctl prints "Name" or "name")
  printf '['; sep=""
  for f in "$1"/*; do [ -e "$f" ] || continue; printf '%s{"%s": "%s"}' "$sep" "$2" "${f##*/}"; sep=", "; done
  echo ']'
}
case "$1 ${2:-}" in
  "status "*) [ -d "$S/apps/$app" ] ;;
  "apps create") mkdir -p "$S/apps/$3/secrets" "$S/apps/$3/volumes" ;;
  "volumes list")  # a volume is a file holding its size in GB; its id is vol_NAME
    printf '['; sep=""
    for f in "$S/apps/$app/volumes"/*; do
      [ -e "$f" ] || continue
      printf '%s{"id": "vol_%s", "name": "%s", "size_gb": %s}' "$sep" "${f##*/}" "${f##*/}" "$(cat "$f")"
      sep=", "
    done
    echo ']' ;;
  "volumes create") printf '%s' "$size" > "$S/apps/$app/volumes/$3" ;;
  "volumes extend") printf '%s' "$size" > "$S/apps/$app/volumes/${3#vol_}" ;;
  "secrets list") names "$S/apps/$app/secrets" Name ;;
  "secrets import") while IFS='=' read -r name value; do printf '%s' "$value" > "$S/apps/$app/secrets/$name"; done ;;
  "deploy "*|"secrets deploy") ;;
  *) echo "fake flyctl: unexpected $*" >&2; exit 2 ;;
esac
"""


def run_deploy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(DEPLOY), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


@pytest.fixture()
def flyctl(tmp_path: Path) -> Path:
    script = tmp_path / "flyctl"
    script.write_text(FAKE_FLYCTL)
    script.chmod(0o755)
    return script


def state(flyctl: Path) -> dict:
    """{"apps": {app: {"volumes": [...], "secrets": {name: value}}}, "log": [argv line, ...]}"""
    root = flyctl.with_name("state")
    apps = {
        app.name: {"volumes": {v.name: int(v.read_text()) for v in (app / "volumes").iterdir()},
                   "secrets": {f.name: f.read_text() for f in (app / "secrets").iterdir()}}
        for app in (root / "apps").iterdir()
    }
    return {"apps": apps, "log": (root / "log").read_text().splitlines()}


def commands(out: str) -> list[str]:
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


def test_dry_run_prints_the_whole_plan_without_flyctl_or_secret_values():
    done = run_deploy("--dry-run", env={"FLYCTL": NO_FLYCTL})
    assert done.returncode == 0, done.stderr
    cmds = commands(done.stdout)
    apps = [CENTRAL] + [f"nettrace-collector-{r}" for r in REGIONS]
    created = [c.split()[3] for c in cmds if c.split()[1:3] == ["apps", "create"]]
    assert sorted(created) == sorted(apps)
    assert any(c.startswith(f"{NO_FLYCTL} volumes create nettrace_data --app {CENTRAL} "
                            f"--region ewr --size {VOLUME_GB} ") for c in cmds)
    builds = [c for c in cmds if "--build-only" in c]
    assert len(builds) == 1 and "--dockerfile fly/Dockerfile" in builds[0]
    image = re.search(r"--image-label (\S+)", builds[0]).group(1)
    deploys = [c for c in cmds if " deploy . " in c and "--build-only" not in c]
    assert [re.search(r"--config (\S+)", c).group(1) for c in deploys] == (
        ["fly/central.toml"] + [f"fly/collector-{r}.toml" for r in REGIONS])
    assert all(f"--image registry.fly.io/{CENTRAL}:{image}" in c and "--ha=false" in c for c in deploys)
    for r in REGIONS:
        assert (f"{NO_FLYCTL} secrets import --app nettrace-collector-{r} --stage  "
                "# stdin: NETTRACE_PUSH_SECRET") in cmds
        assert (f"{NO_FLYCTL} secrets import --app {CENTRAL} --stage  "
                f"# stdin: NETTRACE_SECRET_{r.upper()}") in cmds
    assert not HEX_SECRET.search(done.stdout + done.stderr), "a secret value was printed"


def test_first_run_creates_everything_and_each_region_secret_matches_centrals(flyctl):
    done = run_deploy(env={"FLYCTL": str(flyctl)})
    assert done.returncode == 0, done.stderr
    apps = state(flyctl)["apps"]
    assert apps[CENTRAL]["volumes"] == {"nettrace_data": VOLUME_GB}
    assert HEX_SECRET.fullmatch(apps[CENTRAL]["secrets"]["NETTRACE_KEY_PEPPER"])
    values = set()
    for r in REGIONS:
        push = apps[f"nettrace-collector-{r}"]["secrets"]["NETTRACE_PUSH_SECRET"]
        assert HEX_SECRET.fullmatch(push)
        assert apps[CENTRAL]["secrets"][f"NETTRACE_SECRET_{r.upper()}"] == push
        values.add(push)
    assert len(values) == len(REGIONS), "regions must not share a secret"
    assert not HEX_SECRET.search(done.stdout + done.stderr)


def test_a_rerun_creates_nothing_rotates_nothing_and_deploys_again(flyctl):
    assert run_deploy(env={"FLYCTL": str(flyctl)}).returncode == 0
    before = state(flyctl)
    done = run_deploy(env={"FLYCTL": str(flyctl)})
    assert done.returncode == 0, done.stderr
    after = state(flyctl)
    assert after["apps"] == before["apps"]
    rerun = after["log"][len(before["log"]):]
    mutating = [a for a in rerun if a.startswith(("apps create", "volumes create", "secrets import",
                                                  "secrets deploy"))]
    assert mutating == []
    assert sum(a.startswith("deploy ") for a in rerun) == 1 + 1 + len(REGIONS)  # build, central, 7


def test_a_volume_made_smaller_by_an_earlier_deploy_is_extended_once(flyctl):
    assert run_deploy(env={"FLYCTL": str(flyctl)}).returncode == 0
    (flyctl.with_name("state") / "apps" / CENTRAL / "volumes" / "nettrace_data").write_text("1")
    done = run_deploy(env={"FLYCTL": str(flyctl)})
    assert done.returncode == 0, done.stderr
    assert f"{flyctl} volumes extend vol_nettrace_data --app {CENTRAL} --size {VOLUME_GB} --yes" in (
        commands(done.stdout))
    assert state(flyctl)["apps"][CENTRAL]["volumes"] == {"nettrace_data": VOLUME_GB}
    again = run_deploy(env={"FLYCTL": str(flyctl)})
    assert "volumes extend" not in again.stdout


def test_a_region_secret_missing_on_one_side_is_remade_on_both(flyctl):
    assert run_deploy(env={"FLYCTL": str(flyctl)}).returncode == 0
    data = state(flyctl)
    (flyctl.with_name("state") / "apps" / CENTRAL / "secrets" / "NETTRACE_SECRET_ORD").unlink()
    old_ord = data["apps"]["nettrace-collector-ord"]["secrets"]["NETTRACE_PUSH_SECRET"]
    old_ewr = data["apps"]["nettrace-collector-ewr"]["secrets"]["NETTRACE_PUSH_SECRET"]
    done = run_deploy("--only", "collectors", env={"FLYCTL": str(flyctl)})
    assert done.returncode == 0, done.stderr
    apps = state(flyctl)["apps"]
    new_ord = apps["nettrace-collector-ord"]["secrets"]["NETTRACE_PUSH_SECRET"]
    assert new_ord != old_ord and apps[CENTRAL]["secrets"]["NETTRACE_SECRET_ORD"] == new_ord
    assert apps["nettrace-collector-ewr"]["secrets"]["NETTRACE_PUSH_SECRET"] == old_ewr
    # central is not redeployed with --only collectors, so its staged secret is deployed alone
    assert f"flyctl secrets deploy --app {CENTRAL}".replace("flyctl", str(flyctl)) in done.stdout


def test_pages_credentials_are_set_on_central_by_name_only():
    done = run_deploy("--dry-run", env={"FLYCTL": NO_FLYCTL, "NETTRACE_PAGES_TOKEN": "tok-do-not-print",
                                        "NETTRACE_PAGES_REMOTE": "https://github.com/o/r.git"})
    assert done.returncode == 0, done.stderr
    assert (f"{NO_FLYCTL} secrets import --app {CENTRAL} --stage  "
            "# stdin: NETTRACE_PAGES_REMOTE NETTRACE_PAGES_TOKEN") in commands(done.stdout)
    assert "tok-do-not-print" not in done.stdout + done.stderr


@pytest.mark.parametrize("args, code, message", [
    (["--bogus"], 64, "unknown argument '--bogus'"),
    (["--only", "everything"], 64, "expected central or collectors"),
    ([], 69, "not found"),
])
def test_bad_invocations_exit_with_a_clear_message(args, code, message):
    done = run_deploy(*args, env={"FLYCTL": NO_FLYCTL})
    assert done.returncode == code
    assert message in done.stderr

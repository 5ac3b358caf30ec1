"""fly/entrypoint.sh, run for real: refuses a missing variable by name, and starts the collector
as uid 0 holding CAP_NET_RAW and nothing else (in a network namespace the test makes)."""
from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need_root, need_tool, wait_for

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "fly" / "entrypoint.sh"
CAP_NET_RAW_ONLY = 1 << 13  # CapEff bit of CAP_NET_RAW
START_TIMEOUT_S = 20


def entry_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETTRACE_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return {**env, "NETTRACE_APP_DIR": str(ROOT), "NETTRACE_DATA_DIR": str(tmp_path / "data"),
            **values}


def run_entry(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True,
                          timeout=30)


def test_an_unknown_role_exits_64_with_the_expected_roles(tmp_path):
    done = run_entry(entry_env(tmp_path), "scanner")
    assert done.returncode == 64
    assert "expected collector or central" in done.stderr


def test_a_collector_without_its_push_secret_names_the_variable(tmp_path):
    env = entry_env(tmp_path, NETTRACE_REGION="ewr", NETTRACE_PUSH_URL="http://127.0.0.1:9")
    done = run_entry(env, "collector")
    assert done.returncode == 78
    assert "NETTRACE_PUSH_SECRET is not set" in done.stderr
    assert not (tmp_path / "data").exists(), "nothing is created before the checks pass"


@pytest.mark.parametrize("missing", ["NETTRACE_KEY_PEPPER", "NETTRACE_SECRET_BOM"])
def test_central_refuses_to_start_without_a_region_secret_or_the_pepper(tmp_path, missing):
    values = {f"NETTRACE_SECRET_{r}": "s" for r in ("EWR", "ORD", "LHR", "FRA", "SIN", "NRT", "BOM")}
    values["NETTRACE_KEY_PEPPER"] = "p"
    del values[missing]
    done = run_entry(entry_env(tmp_path, **values), "central")
    assert done.returncode == 78
    assert f"{missing} is not set" in done.stderr


def collector_state(proc: subprocess.Popen) -> tuple[str, dict[str, str]] | None:
    """process_state of proc once it runs `nettrace collect`, else None."""
    assert proc.poll() is None, proc.stderr.read().decode()
    cmdline, status = process_state(proc.pid)
    return (cmdline, status) if "nettrace collect" in cmdline else None


def process_state(pid: int) -> tuple[str, dict[str, str]]:
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if ":\t" in line)
    return cmdline, status


def test_the_collector_role_runs_nettrace_collect_as_root_with_only_cap_net_raw(tmp_path):
    need_root()
    need_tool("unshare", "util-linux")
    env = entry_env(tmp_path, NETTRACE_REGION="ewr", NETTRACE_PUSH_URL="http://127.0.0.1:9",
                    NETTRACE_PUSH_SECRET="test-secret")
    # No network at all inside: the daemon waits for the next grid slot before probing anyway.
    proc = subprocess.Popen(["unshare", "--net", "sh", str(ENTRYPOINT), "collector"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        cmdline, status = wait_for(lambda: collector_state(proc), START_TIMEOUT_S,
                                   "the entrypoint to exec nettrace collect", 0.1)
        assert "--region ewr --every 15m --push http://127.0.0.1:9" in cmdline
        assert f"--targets {ROOT}/targets.toml" in cmdline
        assert status["Uid"].split()[0] == "0"
        assert int(status["CapEff"], 16) == CAP_NET_RAW_ONLY
        assert int(status["CapBnd"], 16) == CAP_NET_RAW_ONLY
        assert status["NoNewPrivs"].strip() == "1"
        assert (tmp_path / "data" / "spool").is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def git_config(repo: Path, key: str) -> str:
    done = subprocess.run(["git", "-c", f"safe.directory={repo}", "-C", str(repo), "config", key],
                          capture_output=True, text=True)
    return done.stdout.strip()


def test_central_sets_up_the_pages_repository_on_every_boot_without_storing_the_token(tmp_path):
    need_root()  # chown to the service account, as on the Fly volume
    values = {f"NETTRACE_SECRET_{r}": "s" for r in ("EWR", "ORD", "LHR", "FRA", "SIN", "NRT", "BOM")}
    env = entry_env(tmp_path, NETTRACE_KEY_PEPPER="p", NETTRACE_USER="nobody",
                    NETTRACE_PAGES_TOKEN="token-stays-in-env", **values)
    pages = tmp_path / "data" / "pages"
    # Two boots: the second finds the repository owned by the service account (git's ownership
    # check would stop root without safe.directory) and a changed remote.
    for remote in ("https://github.com/o/first.git", "https://github.com/o/second.git"):
        # The final exec of `nettrace run` as nobody may fail here (this venv's interpreter can
        # sit under /root); the setup before it is what this test checks.
        done = run_entry({**env, "NETTRACE_PAGES_REMOTE": remote}, "central")
        assert "dubious ownership" not in done.stderr and "fatal:" not in done.stderr, done.stderr
        assert git_config(pages, "remote.origin.url") == remote
    assert git_config(pages, "core.bare") == "true"
    assert "$NETTRACE_PAGES_TOKEN" in git_config(pages, "credential.helper")
    assert "token-stays-in-env" not in (pages / "config").read_text()
    nobody = pwd.getpwnam("nobody").pw_uid
    assert pages.stat().st_uid == nobody == (tmp_path / "data").stat().st_uid

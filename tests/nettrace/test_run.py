"""`nettrace run` end to end: the command `make run` starts, as a real process on loopback,
stopped the way a terminal's Ctrl-C stops it (SIGINT to its whole process group)."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from nettrace.run import child_env, local_secrets, summarize_skipped
from tests.conftest import free_port, need_root, wait_for
from tests.deploy.sandbox import readonly_cwd

ROOT = Path(__file__).resolve().parents[2]
REGIONS = ("ewr", "ord", "lhr")
CATALOG = """
categories = ["Crypto Exchanges"]

[[targets]]
host = "127.0.0.1"
name = "Loopback <b>exchange</b>"
category = "Crypto Exchanges"
port = {port}
probes = ["tcp", "icmp"]

[[targets]]
host = "127.0.0.2"
name = "Closed port"
category = "Crypto Exchanges"
port = {closed}
probes = ["tcp"]
""" + "".join(f"\n[regions.{code}]\ncity = \"C\"\nnote = \"n\"\nlat = 1.0\nlon = 2.0\n"
              for code in REGIONS)
SECRETS = {f"NETTRACE_SECRET_{code.upper()}": f"region-secret-{code}-0123456789" for code in REGIONS}
PEPPER = "pepper-0123456789abcdef"
KEY = re.compile(r"\bnt_[0-9A-Za-z]{36}\b")
NOISE = ("Traceback", "Warning", "warning", "leaked", "Error", "restarting")


def get(url: str, key: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for_url(url: str, timeout_s: float, ready=lambda body: True) -> tuple[int, bytes]:
    """(status, body) once url answers 200 with a body ready(body) accepts."""
    def answer() -> tuple[int, bytes] | None:
        try:
            status, body = get(url)
        except OSError:
            return None
        return (status, body) if status == 200 and ready(body) else None
    return wait_for(answer, timeout_s, f"{url} to answer 200 (and ready)", interval_s=0.5)


def children_of(pid: int) -> dict[int, str]:
    """{pid: command line} of pid's direct children, from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found[int(stat.parent.name)] = cmdline
        except (OSError, IndexError, ValueError):
            pass  # gone meanwhile
    return found


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


class Run:
    """One `nettrace run` process in a process group of its own (as a shell starts it)."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None,
                 cwd: Path | None = None):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        catalog = tmp_path / "targets.toml"
        catalog.write_text(CATALOG.format(port=self.listener.getsockname()[1], closed=free_port()))
        self.state = tmp_path / "state"
        port, ingest_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "nettrace", "run", "--targets", str(catalog),
               "--state", str(self.state), "--public", str(tmp_path / "public"),
               "--private", str(tmp_path / "private"), "--port", str(port),
               "--ingest-port", str(ingest_port), *args]
        if cwd is not None:
            cmd = readonly_cwd(cmd, cwd)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("NETTRACE_")}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd,
            start_new_session=True, env={**base_env, "PYTHONPATH": str(ROOT), **(env or {})})
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout))
        self.reader.start()

    def wait_for_line(self, line: str, timeout_s: float) -> None:
        try:
            wait_for(lambda: line + "\n" in self.lines, timeout_s, f"the line {line!r}", 0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{self.output()}") from None

    def output(self) -> str:
        return "".join(self.lines)

    def interrupt(self) -> str:
        """Ctrl-C as a terminal sends it, to the whole process group; the output until exit."""
        os.killpg(self.proc.pid, signal.SIGINT)
        self.proc.wait(timeout=60)
        self.reader.join()
        return self.output()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.interrupt()
        self.reader.join()
        self.listener.close()


@pytest.fixture
def running(tmp_path: Path):
    need_root()  # icmp in the local round needs root or ping_group_range
    run = Run(tmp_path)
    try:
        yield run
    finally:
        run.close()


def test_make_run_measures_ingests_builds_and_serves_the_site_and_keyed_api(running):
    base = running.base
    # The first build comes at once with no data; the next follows the first pushed round.
    wait_for_url(f"{base}/api/v1/latency/127.0.0.1.json", 90, lambda b: json.loads(b)["has_data"])
    status, body = get(f"{base}/api/v1/targets.json")
    targets = json.loads(body)
    assert {t["host"] for t in targets["targets"]} == {"127.0.0.1", "127.0.0.2"}

    status, body = get(f"{base}/status/")
    assert status == 200 and b"Loopback &lt;b&gt;exchange&lt;/b&gt;" in body

    key = (running.state / "local-api-key").read_text().strip()
    status, body = get(f"{base}/api/v1/latency/127.0.0.1", key)
    latest = json.loads(body)
    assert status == 200 and "ewr" in json.dumps(latest)

    assert key.startswith("nt_")
    assert get(f"{base}/api/v1/signals")[0] == 401
    assert get(f"{base}/api/v1/signals", key)[0] == 200

    # The round's results are stored honestly: the open port answered, the closed one did not.
    from db.connection import connect

    conn = connect(running.state / "nettrace.db", readonly=True)
    rows = dict(conn.execute(
        "SELECT target, ok FROM results WHERE probe = 'tcp'").fetchall())
    conn.close()
    assert rows == {"127.0.0.1": 1, "127.0.0.2": 0}


def test_make_run_says_what_was_skipped_in_one_line_and_ctrl_c_stops_every_child_cleanly(running):
    base = running.base
    # Before the first round, then after it: one line each, and no per-target line.
    running.wait_for_line("nettrace run: 2 targets have no data yet; regions ewr ord lhr have "
                          "never reported (--verbose lists each)", 90)
    running.wait_for_line("nettrace run: regions ord lhr have never reported "
                          "(--verbose lists each)", 90)
    children = children_of(running.proc.pid)
    commands = " | ".join(children.values())
    assert "ingest serve" in commands and " collect " in commands and " serve --public" in commands
    out = running.interrupt()
    assert running.proc.returncode == 0, out
    assert out.rstrip().splitlines()[-1] == "stopped"
    assert f"dashboard    {base}/status/" in out
    assert "API key      nt_" in out
    assert "skipped:" not in out
    assert not [word for word in NOISE if word in out], out
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()], "a child outlived the run"


def test_central_mode_prints_no_key_writes_no_secret_and_gives_each_child_only_its_own(tmp_path):
    app = tmp_path / "app"  # the image's read-only, root-owned working directory
    app.mkdir()
    token = "pages-token-0123456789"
    run = Run(tmp_path, "--central", env={**SECRETS, "NETTRACE_KEY_PEPPER": PEPPER,
                                          "NETTRACE_PAGES_TOKEN": token}, cwd=app)
    try:
        wait_for_url(f"{run.base}/api/v1/targets.json", 90)
        children = children_of(run.proc.pid)
        [ingest] = [pid for pid, cmd in children.items() if "ingest serve" in cmd]
        [proxy] = [pid for pid, cmd in children.items() if " serve --public" in cmd]
        ingest_env, proxy_env = environ_of(ingest), environ_of(proxy)
        out = run.interrupt()
    finally:
        run.close()
    assert run.proc.returncode == 0 and out.rstrip().splitlines()[-1] == "stopped", out
    assert not KEY.search(out) and "API key" not in out
    assert sorted(p.name for p in run.state.iterdir() if "secret" in p.name or "key" in p.name) == []
    everything = (*SECRETS.values(), PEPPER, token)
    assert not [p for p in run.state.rglob("*") if p.is_file()
                and any(s.encode() in p.read_bytes() for s in everything)]
    assert {k: v for k, v in ingest_env.items() if v in everything} == SECRETS
    assert {k: v for k, v in proxy_env.items() if v in everything} == {"NETTRACE_KEY_PEPPER": PEPPER}
    assert list(app.iterdir()) == []


def test_central_mode_without_a_region_secret_names_it_and_writes_nothing(tmp_path):
    env = {**SECRETS, "NETTRACE_KEY_PEPPER": PEPPER}
    del env["NETTRACE_SECRET_ORD"]
    run = Run(tmp_path, "--central", env=env)
    run.proc.wait(timeout=60)
    run.close()
    out = run.output()
    assert run.proc.returncode == 2
    assert "environment variable NETTRACE_SECRET_ORD is not set" in out
    assert not (run.state / "secrets.env").exists()


def test_local_secrets_keep_only_what_the_environment_does_not_give(tmp_path):
    regions = ["ewr", "ord"]
    given = {"NETTRACE_SECRET_EWR": "from-the-environment-0123"}
    held = local_secrets(tmp_path, given, regions)
    stored = (tmp_path / "secrets.env").read_text()
    assert held["NETTRACE_SECRET_EWR"] == "from-the-environment-0123"
    assert "from-the-environment" not in stored and "NETTRACE_SECRET_EWR" not in stored
    assert {"NETTRACE_SECRET_ORD", "NETTRACE_KEY_PEPPER"} == {
        line.split("=")[0] for line in stored.split()}
    assert (tmp_path / "secrets.env").stat().st_mode & 0o777 == 0o600
    assert local_secrets(tmp_path, given, regions) == held  # made once, then kept


def test_a_child_environment_holds_only_the_secrets_named_for_it(monkeypatch):
    for name, value in {**SECRETS, "NETTRACE_KEY_PEPPER": PEPPER, "NETTRACE_PUSH_SECRET": "p",
                        "NETTRACE_PAGES_TOKEN": "t", "NETTRACE_PAGES_REMOTE": "r"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NETTRACE_DATA_DIR", "/data")
    env = child_env({"NETTRACE_PAGES_TOKEN": "t", "NETTRACE_KEY_PEPPER": PEPPER},
                    "NETTRACE_PAGES_TOKEN")
    assert {k for k in env if k.startswith("NETTRACE_")} == {"NETTRACE_PAGES_TOKEN",
                                                             "NETTRACE_DATA_DIR"}


@pytest.mark.parametrize("skipped, expected", [
    ([], []),
    (["the database holds no results: no data anywhere", "a.com: no data in the last 24 h",
      "b.com: no data in the last 24 h", "region ewr: never reported", "region ord: never reported"],
     ["nettrace run: 2 targets have no data yet; regions ewr ord have never reported "
      "(--verbose lists each)"]),
    (["a.com: no data in the last 24 h", "region sin: missed the latest round",
      "region bom: never reported", "3 clock-skewed results left out (round ahead of now)"],
     ["nettrace run: 1 target has no data in the last 24 h; region sin: missed the latest round; "
      "region bom has never reported (--verbose lists each)",
      "nettrace build: skipped: 3 clock-skewed results left out (round ahead of now)"]),
])
def test_skipped_input_is_summed_up_by_target_count_and_region_reason(skipped, expected):
    assert summarize_skipped(skipped) == expected

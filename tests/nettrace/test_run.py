"""`nettrace run` end to end: the command `make run` starts, as a real process on loopback."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port, need_root

CATALOG = """
categories = ["Crypto Exchanges"]

[regions.ewr]
city = "Newark"
note = "US East, primary"
lat = 40.7
lon = -74.2

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
"""


def get(url: str, key: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(url: str, timeout_s: float, ready=lambda body: True) -> tuple[int, bytes]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            status, body = get(url)
            if status == 200 and ready(body):
                return status, body
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer 200 (and ready) within {timeout_s} s")


@pytest.fixture
def running(tmp_path: Path):
    need_root()  # icmp in the local round needs root or ping_group_range
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    catalog = tmp_path / "targets.toml"
    catalog.write_text(CATALOG.format(port=listener.getsockname()[1], closed=free_port()))
    port, ingest_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nettrace", "run", "--targets", str(catalog),
         "--state", str(tmp_path / "state"), "--public", str(tmp_path / "public"),
         "--private", str(tmp_path / "private"), "--port", str(port),
         "--ingest-port", str(ingest_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("NETTRACE_")})
    try:
        yield proc, f"http://127.0.0.1:{port}", tmp_path
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        listener.close()


def test_make_run_measures_ingests_builds_and_serves_the_site_and_keyed_api(running):
    proc, base, tmp_path = running
    # The first build comes at once with no data; the next follows the first pushed round.
    wait_for(f"{base}/api/v1/latency/127.0.0.1.json", 90, lambda b: json.loads(b)["has_data"])
    status, body = get(f"{base}/api/v1/targets.json")
    targets = json.loads(body)
    assert {t["host"] for t in targets["targets"]} == {"127.0.0.1", "127.0.0.2"}

    status, body = get(f"{base}/status/")
    assert status == 200 and b"Loopback &lt;b&gt;exchange&lt;/b&gt;" in body

    key = (tmp_path / "state" / "local-api-key").read_text().strip()
    status, body = get(f"{base}/api/v1/latency/127.0.0.1", key)
    latest = json.loads(body)
    assert status == 200 and "ewr" in json.dumps(latest)

    assert key.startswith("nt_")
    assert get(f"{base}/api/v1/signals")[0] == 401
    assert get(f"{base}/api/v1/signals", key)[0] == 200

    # The round's results are stored honestly: the open port answered, the closed one did not.
    from db.connection import connect

    conn = connect(tmp_path / "state" / "nettrace.db", readonly=True)
    rows = dict(conn.execute(
        "SELECT target, ok FROM results WHERE probe = 'tcp'").fetchall())
    conn.close()
    assert rows == {"127.0.0.1": 1, "127.0.0.2": 0}


def test_make_run_prints_the_urls_and_stops_cleanly_on_interrupt(running):
    proc, base, _ = running
    wait_for(f"{base}/api/v1/targets.json", timeout_s=90)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert f"dashboard    {base}/status/" in out
    assert "API key      nt_" in out

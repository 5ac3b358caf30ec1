"""A deploy rehearsal without Docker: fly/entrypoint.sh runs both roles the way the image runs
them (tests/deploy/sandbox.py: /app read-only and root-owned as the Dockerfile fills it, /data
owned by the service account once the entrypoint has chowned it, capabilities dropped by the
entrypoint itself), and a whole cycle goes through: a collector round in the network lab, a
signed push to central over a private link, a build, a publish to a local bare repository,
and the proxy serving the site and a keyed call."""
from __future__ import annotations

import base64
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import need_tool
from tests.deploy.sandbox import Machine
from tests.lab.collect_run import write_catalog
from tests.lab.netns import Netns, veth
from tests.lab.topology import Lab, LabTarget, need_lab

pytestmark = pytest.mark.lab

CAP_NET_RAW = 1 << 13
PUSH_SECRET = "rehearsal-push-secret-0123456789"
PEPPER = "rehearsal-pepper-0123456789"
PAGES_TOKEN = "rehearsal-pages-token-0123456789"
CENTRAL_IP = "fd77::22"  # on an IPv6 link from the lab's collector, as Fly's 6PN
TARGET = LabTarget(1, delay_ms=8.0)
CYCLE_TIMEOUT_S = 180
FETCH = """
import base64, json, sys, urllib.error, urllib.request
request = urllib.request.Request(sys.argv[1], headers=json.loads(sys.argv[2]))
try:
    with urllib.request.urlopen(request, timeout=5) as answer:
        status, body = answer.status, answer.read()
except urllib.error.HTTPError as exc:
    status, body = exc.code, exc.read()
except OSError:
    status, body = 0, b""
print(json.dumps([status, base64.b64encode(body).decode()]))
"""


def fetch(ns: Netns, path: str, key: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    done = ns.exec_python(FETCH, f"http://127.0.0.1:8700{path}", json.dumps(headers))
    status, body = json.loads(done.stdout)
    return status, base64.b64decode(body)


def wait_until(ready, what: str, logs: dict[subprocess.Popen, Path],
               timeout_s: float = CYCLE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        said = "\n".join(f"--- {log.name}:\n{log.read_text()}" for log in logs.values())
        for proc, log in logs.items():
            assert proc.poll() is None, f"{log.name} exited ({proc.returncode}) before {what}\n{said}"
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s\n{said}"
        time.sleep(1)


def six_pn(collector: Netns, central: Netns) -> None:
    """An IPv6 link from the collector to central (usable at once: no duplicate detection)."""
    veth(collector, central, "10.77.0.21/30", "10.77.0.22/30")
    for ns, peer, address in ((collector, central, "fd77::21"), (central, collector, CENTRAL_IP)):
        ns.run(["ip", "addr", "add", f"{address}/64", "dev", ns.ifname_to(peer), "nodad"])


def published(remote: Path, path: str) -> dict | None:
    done = subprocess.run(["git", "--git-dir", str(remote), "show", f"gh-pages:{path}"],
                          capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else None


def status_of(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def stop(proc: subprocess.Popen, log: Path) -> str:
    """SIGTERM, as Fly stops a machine; the output until exit."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    return log.read_text()


@pytest.fixture
def machine_root():
    need_lab()
    for tool, package in (("unshare", "util-linux"), ("setpriv", "util-linux"), ("git", "git")):
        need_tool(tool, package)
    root = Path(tempfile.mkdtemp(prefix="nettrace-rehearsal-"))
    root.chmod(0o755)  # the service account walks through it to /data, as to / on Fly
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_both_roles_run_as_deployed_through_a_whole_cycle(machine_root):
    machine = Machine(machine_root)
    machine.stage()
    # The rehearsal measures the lab, never the catalog's real hosts.
    write_catalog(machine.app / "targets.toml", [TARGET], ("icmp", "tcp", "trace"))
    app_before = sorted(str(p.relative_to(machine.app)) for p in machine.app.rglob("*"))
    data, collector_data = machine_root / "data", machine_root / "collector-data"
    data.mkdir()  # Fly mounts the volume owned by root
    remote = machine_root / "pages.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    shutil.chown(remote, machine.uid)
    for path in remote.rglob("*"):
        shutil.chown(path, machine.uid)

    with Lab([TARGET]) as lab, Netns("central") as central:
        six_pn(lab.collector, central)
        central_env = machine.env(NETTRACE_DATA_DIR=str(data), NETTRACE_KEY_PEPPER=PEPPER,
                                  NETTRACE_SECRET_EWR=PUSH_SECRET, NETTRACE_PAGES_TOKEN=PAGES_TOKEN,
                                  NETTRACE_PAGES_REMOTE=str(remote))
        server_log, collector_log = machine_root / "central.log", machine_root / "collector.log"
        with server_log.open("w") as out:
            server = central.popen(machine.argv("sh", str(machine.app / "fly/entrypoint.sh"),
                                                "central"), env=central_env, stdout=out, stderr=out)
        logs = {server: server_log}
        collector = None
        try:
            wait_until(lambda: fetch(central, "/api/v1/targets.json")[0] == 200, "site", logs, 90)
            # Every exec on the way keeps the pid: this is `nettrace run --central` itself.
            run_status = status_of(server.pid)
            with collector_log.open("w") as out:
                collector = lab.collector.popen(
                    machine.argv("sh", str(machine.app / "fly/entrypoint.sh"), "collector", "--now"),
                    env=machine.env(NETTRACE_DATA_DIR=str(collector_data), NETTRACE_REGION="ewr",
                                    NETTRACE_PUSH_URL=f"http://[{CENTRAL_IP}]:8701",
                                    NETTRACE_PUSH_SECRET=PUSH_SECRET), stdout=out, stderr=out)
            logs[collector] = collector_log
            wait_until(lambda: b"nettrace collect" in Path(f"/proc/{collector.pid}/cmdline")
                       .read_bytes().replace(b"\0", b" "), "the collector's exec", logs, 30)
            collector_status = status_of(collector.pid)
            latency = f"api/v1/latency/{TARGET.address}.json"
            wait_until(lambda: (published(remote, latency) or {}).get("has_data"),
                       "published build with the lab's round", logs)

            status, page = fetch(central, "/")
            assert status == 200 and b"<html" in page.lower()
            status, body = fetch(central, f"/{latency}")
            assert status == 200 and json.loads(body)["has_data"]
            key = create_key(machine, central, data)
            assert fetch(central, f"/api/v1/latency/{TARGET.address}")[0] == 401
            status, body = fetch(central, f"/api/v1/latency/{TARGET.address}", key)
            assert status == 200 and "ewr" in body.decode(), body
        finally:
            collector_out = stop(collector, collector_log) if collector else ""
            server_out = stop(server, server_log)

    assert server.returncode == 0 and server_out.rstrip().endswith("stopped"), server_out
    assert "API key" not in server_out and PEPPER not in server_out + collector_out
    # central: the service account, no capability left, and none to gain.
    assert run_status["Uid"].split() == [str(machine.uid)] * 4
    assert int(run_status["CapEff"], 16) == int(run_status["CapBnd"], 16) == 0
    assert run_status["NoNewPrivs"].strip() == "1"
    # a collector: uid 0 holding CAP_NET_RAW and nothing else (its round included trace).
    assert collector_status["Uid"].split()[0] == "0"
    assert int(collector_status["CapEff"], 16) == int(collector_status["CapBnd"], 16) == CAP_NET_RAW
    # /data: all the service account's, and no secret written to it.
    files = [p for p in data.rglob("*") if not p.is_symlink()]
    assert {p.stat().st_uid for p in [data, *files]} == {machine.uid}
    assert not [p for p in files if p.is_file() and any(
        s.encode() in p.read_bytes() for s in (PEPPER, PUSH_SECRET, PAGES_TOKEN))]
    # /app: read-only and nothing written there.
    assert sorted(str(p.relative_to(machine.app)) for p in machine.app.rglob("*")) == app_before


def create_key(machine: Machine, central: Netns, data: Path) -> str:
    """An operator's `nettrace keys create` on the machine, as the service account (a key
    made as root would leave root-owned WAL files on the volume)."""
    cmd = machine.argv("setpriv", f"--reuid={machine.user}", f"--regid={machine.uid}",
                       "--init-groups", "--", sys.executable, "-m", "nettrace", "keys", "create",
                       "--tier", "enterprise", "--owner", "rehearsal", "--db",
                       str(data / "nettrace.db"))
    done = central.run(cmd, env=machine.env(NETTRACE_KEY_PEPPER=PEPPER))
    return next(word for word in done.stdout.split() if word.startswith("nt_"))

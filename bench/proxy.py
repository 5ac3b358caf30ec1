"""Benchmark of the keyed proxy: wrk on loopback against `nettrace serve` (authenticated GETs of
a cached JSON file, every call counted in the usage table) and, in the same run, nginx serving
the same file as the ceiling. Prints a markdown table.

Bars: >= 5,000 req/s and p99 <= 20 ms at 64 connections. The data is synthetic (a targets.json
of 120 generated hosts); the database holds only the key and its usage.

    .venv/bin/python bench/proxy.py [--duration 10] [--connections 64]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from db.connection import connect  # noqa: E402
from proxy.keys import create_key  # noqa: E402
from tests.conftest import free_port  # noqa: E402

MIN_RPS = 5_000
MAX_P99_MS = 20.0
PEPPER = "bench-pepper-not-a-secret-0123456789"
PATH = "/api/v1/targets"
SERVER_CPU, CLIENT_CPU = 1, 0
NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/nginx-body;
  proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fastcgi;
  uwsgi_temp_path {tmp}/nginx-uwsgi;
  scgi_temp_path {tmp}/nginx-scgi;
  open_file_cache max=100;
  server {{
    listen 127.0.0.1:{port};
    location = {path} {{ default_type application/json; alias {file}; etag on; }}
  }}
}}
"""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors plus non-2xx answers


def write_site(tmp: Path) -> Path:
    """public/api/v1/targets.json: 120 synthetic targets, the size of the real catalog."""
    public = tmp / "public"
    (public / "api/v1").mkdir(parents=True)
    (tmp / "private").mkdir()
    doc = {"schema": 1, "generated_at": 1_795_644_000, "synthetic": True, "targets": [
        {"host": f"api{i}.example-exchange.com", "name": f"Exchange {i}",
         "category": "Crypto Exchanges", "port": 443} for i in range(120)]}
    (public / "api/v1/targets.json").write_text(json.dumps(doc, separators=(",", ":")))
    return public


def _pin(cpu: int) -> list[str]:
    """taskset prefix: the server and wrk each get their own CPU, so neither steals the other's
    (both servers are measured the same way); nothing on a one-CPU machine."""
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, connections: int, duration_s: int, headers: list[str]) -> WrkResult:
    cmd = [*_pin(CLIENT_CPU), "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(requests=int(re.search(r"(\d+) requests in", out).group(1)),
                     rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                     p50_ms=_ms(lat["50"]), p99_ms=_ms(lat["99"]),
                     errors=socket_errors + (int(non_2xx.group(1)) if non_2xx else 0))


def wait_listening(url: str, proc: subprocess.Popen, headers: dict) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            if httpx.get(url, headers=headers, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_proxy(tmp: Path, public: Path, db: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "NETTRACE_KEY_PEPPER": PEPPER, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([*_pin(SERVER_CPU), sys.executable, "-m", "nettrace", "serve", "--public", str(public),
                             "--private", str(tmp / "private"), "--db", str(db),
                             "--listen", f"127.0.0.1:{port}"], cwd=ROOT, env=env)


def start_nginx(tmp: Path, public: Path, port: int) -> subprocess.Popen:
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, path=PATH,
                                      file=public / "api/v1/targets.json"))
    return subprocess.Popen([*_pin(SERVER_CPU), shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(conf),
                             "-p", str(tmp)], stderr=subprocess.DEVNULL)


def stored_calls(db: Path) -> int:
    conn = connect(db, readonly=True)
    try:
        return conn.execute("SELECT coalesce(sum(calls), 0) FROM usage").fetchone()[0]
    finally:
        conn.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=64)
    args = p.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"needs {tool} (Debian package {tool}; `make bench` installs it)")
    with tempfile.TemporaryDirectory(prefix="nettrace-bench-proxy-") as name:
        tmp = Path(name)
        public = write_site(tmp)
        db = tmp / "central.sqlite"
        conn = connect(db)
        key = create_key(conn, "enterprise", "bench", PEPPER.encode(), time.time())
        conn.close()
        auth = {"Authorization": f"Bearer {key}"}
        results = {}
        for label, starter in (("nettrace serve (keyed, quota counted)",
                                lambda port: start_proxy(tmp, public, db, port)),
                               ("nginx (static file, ceiling)",
                                lambda port: start_nginx(tmp, public, port))):
            port = free_port()
            proc = starter(port)
            try:
                url = f"http://127.0.0.1:{port}{PATH}"
                wait_listening(url, proc, auth)
                run_wrk(url, args.connections, 2, [f"Authorization: Bearer {key}"])  # warm up
                before = stored_calls(db)
                results[label] = run_wrk(url, args.connections, args.duration,
                                         [f"Authorization: Bearer {key}"])
                counted = stored_calls(db) - before
            finally:
                stop(proc)
            if label.startswith("nettrace"):
                proxy_counted = counted
        print_table(results, args, proxy_counted)
    proxy, nginx = results.values()
    return 0 if proxy.rps >= MIN_RPS and proxy.p99_ms <= MAX_P99_MS and proxy.errors == 0 else 1


def print_table(results: dict[str, WrkResult], args, counted: int) -> None:
    proxy, nginx = results.values()
    pinned = f"server on CPU {SERVER_CPU}, wrk on CPU {CLIENT_CPU}" if _pin(0) else "unpinned"
    print(f"\nwrk -t1 -c{args.connections} -d{args.duration}s on loopback, GET {PATH} "
          f"({os.cpu_count()} CPUs, {pinned}; both servers one process; "
          f"load average {os.getloadavg()[0]:.1f} at the end)\n")
    print("| server | requests | req/s | p50 ms | p99 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, r in results.items():
        print(f"| {label} | {r.requests:,} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |")
    print(f"\nproxy / nginx throughput: {proxy.rps / nginx.rps:.1%}")
    print(f"calls stored in the usage table during the proxy run: {counted:,} "
          f"(wrk completed {proxy.requests:,}; calls still in flight when wrk stops are counted too)")
    verdict = lambda ok: "PASS" if ok else "FAIL"  # noqa: E731
    print(f"bar >= {MIN_RPS:,} req/s: {verdict(proxy.rps >= MIN_RPS)};  "
          f"bar p99 <= {MAX_P99_MS:.0f} ms: {verdict(proxy.p99_ms <= MAX_P99_MS)}")


if __name__ == "__main__":
    sys.exit(main())

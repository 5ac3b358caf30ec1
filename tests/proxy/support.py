"""Helpers for the proxy tests: a fixture build output at the DEVELOPERS.md paths, keys, and a
real proxy process on a free loopback port."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from collect.records import iso_utc
from db.connection import connect
from proxy.keys import create_key
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PEPPER = "test-pepper-0123456789abcdef"
HOSTS = ("api.kraken.com", "api.binance.com", "www.nyse.com")
REGIONS = ("ewr", "fra", "sin")
GENERATED_AT = 1_795_644_000  # 2026-11-26T06:00:00Z
HOUR_S = 3600


def _write(root: Path, rel: str, content) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content if isinstance(content, (bytes, str)) else json.dumps(content)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _history(host: str, hours: int, step_s: int) -> dict:
    """A columnar series per region: one point every step_s over the last hours."""
    ts = list(range(GENERATED_AT - hours * HOUR_S + step_s, GENERATED_AT + 1, step_s))
    return {"schema": "nettrace.history/1", "generated_at": iso_utc(GENERATED_AT), "host": host, "regions": [
        {"region": r, "series": [{"probe": "icmp", "step_s": step_s, "ts": ts,
                                   "rtt_ms": [10.0 + i % 7 for i in range(len(ts))]}]}
        for r in REGIONS]}


def write_site(tmp_path: Path) -> tuple[Path, Path]:
    """public/ and private/ as the build lays them out (small, synthetic), plus a secret beside
    them that must never be served."""
    public, private = tmp_path / "public", tmp_path / "private"
    meta = {"schema": "nettrace.fixture/1", "generated_at": iso_utc(GENERATED_AT)}
    pub = {
        "index.html": "<!doctype html><title>NetTrace</title>",
        "status/index.html": "<!doctype html><title>status</title>",
        "static/site.css": "body{margin:0}" * 100,
        "api/v1/index.json": {**meta, "endpoints": [{"path": "/api/v1/targets", "tier": "free"}]},
        "api/v1/targets.json": {**meta, "targets": [{"host": h} for h in HOSTS]},
        "api/v1/rankings.json": {**meta, "rankings": []},
        "api/v1/rankings/crypto-exchanges.json": {**meta, "category": "Crypto Exchanges",
                                                  "entries": [{"host": h} for h in HOSTS[:2]]},
        "metrics": "# HELP up 1 when the build ran\n# TYPE up gauge\nup 1\n",
    }
    for h in HOSTS:
        pub[f"api/v1/latency/{h}.json"] = {**meta, "host": h, "regions": {r: {"rtt_ms": 10.5} for r in REGIONS}}
        pub[f"api/v1/latency/{h}/history.json"] = _history(h, 24, 900)
        pub[f"api/v1/badge/{h}.json"] = {"schemaVersion": 1, "label": "latency", "message": "10 ms", "color": "green"}
        pub[f"widget/{h}.svg"] = f'<svg xmlns="http://www.w3.org/2000/svg"><title>{h}</title></svg>'
        pub[f"widget/{h}/fra.svg"] = '<svg xmlns="http://www.w3.org/2000/svg"><title>fra</title></svg>'
        pub[f"status/{h}/index.html"] = f"<!doctype html><title>{h}</title>"
    priv = {
        "api/v1/signals.json": {**meta, "signals": [{"type": "rtt_anomaly", "target": HOSTS[0]}]},
        "api/v1/signals/history.json": {**meta, "signals": [
            {"type": "trend", "target": HOSTS[1], "ts": GENERATED_AT - d * 24 * HOUR_S} for d in range(60)]},
        "api/v1/compare.json": {**meta, "targets": [{"host": h, "best_rtt_ms": 10.0} for h in HOSTS]},
    }
    for h in HOSTS:
        priv[f"api/v1/latency/{h}/history-30d.json"] = _history(h, 30 * 24, HOUR_S)
        priv[f"api/v1/latency/{h}/history-90d.json"] = _history(h, 90 * 24, HOUR_S)
        priv[f"api/v1/routes/{h}.json"] = {**meta, "host": h, "routes": {"fra": {"hops": ["10.0.0.1"]}}}
    for rel, content in pub.items():
        _write(public, rel, content)
    for rel, content in priv.items():
        _write(private, rel, content)
    _write(tmp_path, "secret.txt", "TOP-SECRET")
    os.symlink(tmp_path / "secret.txt", public / "static" / "leak.txt")
    return public, private


def new_key(db: Path, tier: str, owner: str = "tester") -> str:
    conn = connect(db)
    try:
        return create_key(conn, tier, owner, PEPPER.encode(), time.time())
    finally:
        conn.close()


@dataclass
class ProxyProcess:
    """`nettrace serve` (or the clock harness) as a child process on a loopback port."""

    public: Path
    private: Path
    db: Path
    clock_file: Path | None = None
    proc: subprocess.Popen | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ProxyProcess":
        self.port = free_port()
        if self.clock_file is None:
            cmd = [sys.executable, "-m", "nettrace", "serve", "--public", str(self.public),
                   "--private", str(self.private), "--db", str(self.db),
                   "--listen", f"127.0.0.1:{self.port}", "--stream-poll", "0.1"]
        else:
            cmd = [sys.executable, str(ROOT / "tests/proxy/clock_server.py"), "--public",
                   str(self.public), "--private", str(self.private), "--db", str(self.db),
                   "--clock-file", str(self.clock_file), "--port", str(self.port)]
        env = {**os.environ, "NETTRACE_KEY_PEPPER": PEPPER, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"proxy exited: {self.proc.stderr.read().decode()}")
            try:
                httpx.get(f"{self.url}/api/v1/openapi.json", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("proxy did not start listening")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()

    def rss_kib(self) -> int:
        """The server's resident set size now, in KiB (from /proc)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

"""Helpers for the proxy tests: a fixture build output at the DEVELOPERS.md paths, keys, and a
real proxy process on a free loopback port."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from collect.records import ROUND_S, iso_utc
from db.connection import connect
from proxy.keys import create_key
from tests.conftest import free_port, wait_for

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
        "api/v1/signals.json": {**meta, "event_schema": 1, "detector": "test", "signals": [
            _event("level_shift", HOSTS[0], GENERATED_AT - HOUR_S)]},
        "api/v1/signals/history.json": {**meta, "event_schema": 1, "detector": "test", "signals": [
            _event("trend", HOSTS[1], GENERATED_AT - d * 24 * HOUR_S) for d in range(60)]},
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


def _event(kind: str, host: str, started_at: int) -> dict:
    """A signal event in the shape the build writes (build/compute/events.py Event.to_json)."""
    return {"id": f"{kind}-{host}-{started_at}", "type": kind, "target": host, "region": "fra",
            "regions": ["fra"], "scope": "regional", "probe": "icmp",
            "started_at": iso_utc(started_at), "ended_at": None, "status": "open",
            "before_ms": 10.0, "during_ms": 30.0, "peak_z": 8.0, "severity": "warning",
            "description": f"{host} from fra: RTT +20.0 ms (icmp)", "detail": None,
            "in_session": False, "updated_at": iso_utc(started_at)}


def fill_results(db: Path, rows: int, end_round_ts: int) -> None:
    """rows synthetic icmp results, 700 per round (100 targets x 7 regions) up to end_round_ts,
    made by SQLite itself (fast; the export only reads them)."""
    first = end_round_ts - (rows // 700) * ROUND_S
    conn = connect(db)
    conn.execute("PRAGMA cache_size=-400000")  # 400 MB: index inserts stay in memory
    conn.execute(
        "INSERT INTO results (target, region, probe, round_ts, ts, ok, rtt_ms, min_ms, p95_ms, "
        "max_ms, mean_ms, jitter_ms, loss, samples_ms, detail, error, received_at) "
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :rows), "
        "m(i, r, v) AS (SELECT i, :first + i / 700 * 900, 10.0 + i % 97 FROM n) "
        "SELECT 't' || (i % 700 / 7) || '.example.com', 'r' || (i % 7), 'icmp', r, r + 1.5, 1, "
        "v, v, v, v, v, 0.1, 0.0, '[' || v || ']', NULL, NULL, r + 30.0 FROM m",
        {"rows": rows, "first": first})
    conn.close()


def raw_get(port: int, target: str, headers: str = "") -> tuple[int, bytes, bytes]:
    """A request line sent as is (clients would normalize '..'); (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


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
    args: tuple[str, ...] = ()  # more `nettrace serve` flags
    proc: subprocess.Popen | None = None
    port: int = 0
    log: str = ""  # what the server wrote to stderr, once stopped

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ProxyProcess":
        self.port = free_port()
        serve = ["--public", str(self.public), "--private", str(self.private), "--db", str(self.db),
                 "--listen", f"127.0.0.1:{self.port}", "--stream-poll", "0.1", *self.args]
        if self.clock_file is None:
            cmd = [sys.executable, "-m", "nettrace", "serve", *serve]
        else:
            cmd = [sys.executable, str(ROOT / "tests/proxy/clock_server.py"),
                   "--clock-file", str(self.clock_file), *serve]
        env = {**os.environ, "NETTRACE_KEY_PEPPER": PEPPER, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE)
        self._wait_ready()
        return self

    def __enter__(self) -> "ProxyProcess":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _wait_ready(self, timeout_s: float = 15.0) -> None:
        wait_for(self._listening, timeout_s, f"nettrace serve to listen on {self.url}")

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"proxy exited: {self.proc.stderr.read().decode()}")
        try:
            httpx.get(f"{self.url}/api/v1/openapi.json", timeout=1.0)
        except httpx.TransportError:
            return False
        return True

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
        self.log = self.proc.stderr.read().decode(errors="replace")
        self.proc.stderr.close()

    def rss_kib(self) -> int:
        """The server's resident set size now, in KiB (from /proc)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

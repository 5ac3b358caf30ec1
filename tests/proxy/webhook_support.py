"""Helpers of the webhook tests: a receiver process, signal transitions stored as the build
stores them, a few-line signature check that shares no code with the proxy, and registration."""
from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from db.connection import connect
from tests.conftest import free_port, wait_for
from tests.proxy.support import HOSTS, ROOT

SINK = ROOT / "tests/proxy/webhook_sink.py"
# Delivery tests run a server that admits loopback receivers and retries within a second.
LOCAL_SERVER_ARGS = ("--webhook-allow-local", "--webhook-first-retry", "0.2",
                     "--webhook-max-retry", "0.5", "--webhook-timeout", "1.0")


def add_categories(public: Path) -> None:
    """Give the fixture's targets.json the categories the build writes: two crypto venues."""
    path = public / "api/v1/targets.json"
    doc = json.loads(path.read_text())
    doc["categories"] = [{"slug": "crypto-exchanges", "name": "Crypto Exchanges",
                          "hosts": list(HOSTS[:2])}]
    path.write_text(json.dumps(doc))


def signature_ok(secret: str, headers: dict, body: bytes) -> bool:
    """Independent check of X-NetTrace-Signature: t=<unix s>,v1=<hex HMAC-SHA256>."""
    parts = dict(p.split("=", 1) for p in headers["x-nettrace-signature"].split(","))
    mac = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts["v1"])


@dataclass
class Sink:
    """tests/proxy/webhook_sink.py as a child process, and what it received."""

    log: Path
    args: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> "Sink":
        self.proc = subprocess.Popen([sys.executable, str(SINK), str(self.port), str(self.log),
                                      *self.args])
        wait_for(self._listening, 10, "the webhook sink to listen")
        return self

    def _listening(self) -> bool:
        try:
            httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1)  # GET: not logged (501)
            return True
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def received(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def events(self, kind: str | None = None) -> list[dict]:
        """Received deliveries other than the ping (or of one kind), in arrival order."""
        return [r for r in self.received()
                if r["headers"]["x-nettrace-event"] != "ping"
                and (kind is None or r["headers"]["x-nettrace-event"] == kind)]


def open_signal(db: Path, signal_id: str, round_ts: int, **over) -> int:
    """Store an event and its opening as the build does; the transition's seq."""
    e = {"type": "level_shift", "target": "api.kraken.com", "region": "fra", "probe": "tcp",
         "scope": "global", "regions": json.dumps(["fra", "ewr"]), "severity": "warning",
         "in_session": 1, "description": f"{signal_id}: Kraken +27.5 ms"} | over
    conn = connect(db)
    try:
        conn.execute(
            "INSERT INTO signals (id, type, target, region, probe, scope, regions, started_at, "
            "status, before_ms, during_ms, peak_z, severity, in_session, description, detail, "
            "updated_at) VALUES (:id, :type, :target, :region, :probe, :scope, :regions, :ts, "
            "'open', 12.5, 40.0, 6.2, :severity, :in_session, :description, NULL, :ts)",
            e | {"id": signal_id, "ts": round_ts})
        return conn.execute("INSERT INTO signal_transitions (signal_id, kind, round_ts) "
                            "VALUES (?, 'opened', ?)", (signal_id, round_ts)).lastrowid
    finally:
        conn.close()


def resolve_signal(db: Path, signal_id: str, round_ts: int) -> int:
    conn = connect(db)
    try:
        conn.execute("UPDATE signals SET status = 'resolved', ended_at = ?, updated_at = ? "
                     "WHERE id = ?", (round_ts, round_ts, signal_id))
        return conn.execute("INSERT INTO signal_transitions (signal_id, kind, round_ts) "
                            "VALUES (?, 'resolved', ?)", (signal_id, round_ts)).lastrowid
    finally:
        conn.close()


def register(base_url: str, key: str, url: str, **fields) -> httpx.Response:
    return httpx.post(f"{base_url}/api/v1/webhooks", json={"url": url, **fields},
                      headers={"Authorization": f"Bearer {key}"}, timeout=10)


def listing(base_url: str, key: str) -> dict[str, dict]:
    r = httpx.get(f"{base_url}/api/v1/webhooks", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return {w["id"]: w for w in r.json()["webhooks"]}


def attempts(base_url: str, key: str, hook_id: str) -> list[dict]:
    r = httpx.get(f"{base_url}/api/v1/webhooks/{hook_id}/deliveries",
                  headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return r.json()["attempts"]

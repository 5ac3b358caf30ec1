"""Shared helpers of the ingest tests: a real `nettrace ingest serve` process on a free
loopback port, signed pushes, result batches and a content dump of the database."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from collect.records import Measurement, ProbeResult, round_slot
from collect.signing import region_secret_var, sign

REGIONS = ("ewr", "ord", "lhr", "fra", "sin", "nrt", "bom")
PROBES = ("icmp", "tcp", "tls", "http", "dns", "trace")


def secret(region: str) -> bytes:
    return f"test-secret-for-{region}-0123456789".encode()


def server_env(regions=REGIONS) -> dict[str, str]:
    env = dict(os.environ)
    env.update({region_secret_var(r): secret(r).decode() for r in regions})
    return env


@dataclass
class Server:
    proc: subprocess.Popen
    url: str

    @property
    def push_url(self) -> str:
        return self.url + "/v1/results"


def launch(db: Path, *extra: str, listen: str = "127.0.0.1:0", regions=REGIONS,
           env: dict | None = None, netns: str | None = None) -> Server:
    cmd = [sys.executable, "-m", "nettrace", "ingest", "serve", "--db", str(db),
           "--listen", listen, "--regions", ",".join(regions), *extra]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    proc = subprocess.Popen(cmd, env=env or server_env(regions), stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"ingest did not start: {line}{proc.stderr.read()}")
    return Server(proc, match.group(1))


@contextmanager
def running(db: Path, *extra: str, **kw):
    server = launch(db, *extra, **kw)
    try:
        yield server
    finally:
        server.proc.kill()
        server.proc.wait()


def results(region: str = "ewr", round_ts: int | None = None, targets: int = 3,
            probes=PROBES, samples=(12.5, None, 13.25)) -> list[dict]:
    round_ts = round_slot(time.time()) if round_ts is None else round_ts
    return [ProbeResult(f"t{i}.example.com", region, p, round_ts, round_ts + 0.25,
                        Measurement(samples)).to_json()
            for i in range(targets) for p in probes]


def body_of(records: list[dict]) -> bytes:
    return json.dumps({"results": records}).encode()


def push(url: str, body: bytes, region: str = "ewr", *, ts: float | None = None,
         key: bytes | None = None, headers: dict | None = None, client=httpx) -> httpx.Response:
    signed = sign(key or secret(region), region, int(time.time() if ts is None else ts), body)
    return client.post(url, content=body, headers={"Content-Type": "application/json",
                                                    **signed, **(headers or {})}, timeout=30)


def wait_for_rollups(db: Path, timeout_s: float = 10.0) -> None:
    """Until a running server has refreshed every hour it marked (it does once pushes pause)."""
    deadline = time.monotonic() + timeout_s
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        while conn.execute("SELECT count(*) FROM hourly_dirty").fetchone() != (0,):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{db}: rollups still dirty after {timeout_s} s")
            time.sleep(0.01)
    finally:
        conn.close()


def content_dump(db: Path) -> list[str]:
    """Every row of the data tables once rollups settled, for before/after comparisons."""
    wait_for_rollups(db)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [repr(row) for table in ("results", "hourly")
                for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4")]
    finally:
        conn.close()

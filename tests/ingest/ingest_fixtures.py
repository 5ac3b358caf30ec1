"""Shared helpers of the ingest tests: a real `nettrace ingest serve` process on a free
loopback port, signed pushes, result batches and a content dump of the database."""
from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from collect.records import Measurement, ProbeResult, round_slot
from collect.signing import region_secret_var, sign
from tests.conftest import wait_for

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
           env: dict | None = None, netns: str | None = None, log: Path | None = None) -> Server:
    """A running `nettrace ingest serve`; its stderr is a pipe, or appended to log when given
    (a long run must not fill a pipe nobody reads)."""
    cmd = [sys.executable, "-m", "nettrace", "ingest", "serve", "--db", str(db),
           "--listen", listen, "--regions", ",".join(regions), *extra]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    if log is None:
        proc = subprocess.Popen(cmd, env=env or server_env(regions), stderr=subprocess.PIPE,
                                text=True)
        line = proc.stderr.readline()
    else:
        start = log.stat().st_size if log.exists() else 0
        with open(log, "a") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen(cmd, env=env or server_env(regions), stderr=out)
        line = _first_line_after(log, start, proc)
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        proc.kill()
        rest = proc.stderr.read() if log is None else ""
        raise RuntimeError(f"ingest did not start: {line}{rest}")
    return Server(proc, match.group(1))


def _first_line_after(log: Path, offset: int, proc: subprocess.Popen, timeout_s: float = 60) -> str:
    def first_line() -> tuple[str] | None:
        with open(log) as f:
            f.seek(offset)
            line = f.readline()
        return (line,) if line.endswith("\n") or proc.poll() is not None else None
    return wait_for(first_line, timeout_s, f"the server's first line in {log}")[0]


def children_of(pid: int) -> set[int]:
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.add(int(stat.parent.name))
    return kids


def spawned_pids(server_pid: int) -> list[int]:
    """The server's checker processes and its writer process."""
    pids = []
    for pid in children_of(server_pid):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
        except OSError:  # exited meanwhile
            pass
    return pids


def has_open(pid: int, path: Path) -> bool:
    try:
        return any(fd.readlink() == path for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # exited meanwhile
        return False


def writer_pid(server_pid: int, db: Path) -> int | None:
    """The server's writer process: the spawned child that holds the database open."""
    return next((pid for pid in spawned_pids(server_pid) if has_open(pid, db)), None)


@contextmanager
def running(db: Path, *extra: str, **kw):
    server = launch(db, *extra, **kw)
    try:
        yield server
    finally:
        server.proc.kill()
        server.proc.wait()


@contextmanager
def tmpfs(path: Path, size_bytes: int):
    """A tmpfs of size_bytes mounted at path (needs root), lazily unmounted on exit."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)],
                   check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill_volume(folder: Path, leave_bytes: int = 0) -> Path:
    """A filler file in folder that leaves about leave_bytes free on its volume (at most as
    much as it already had); returns it, for the test to delete."""
    filler = folder / "filler"
    st = os.statvfs(folder)
    todo = max(0, st.f_bavail * st.f_frsize - leave_bytes)
    chunk = b"\0" * 65536
    with open(filler, "ab") as f:
        try:
            while todo > 0:
                todo -= f.write(chunk[:todo])
                f.flush()
        except OSError:  # the volume is full
            pass
    return filler


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
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        wait_for(lambda: conn.execute("SELECT count(*) FROM hourly_dirty").fetchone() == (0,),
                 timeout_s, f"{db}: every dirty hour rolled up", 0.01)
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


def open_push(url: str, headers: dict, content_length: int, body: bytes = b"",
              timeout_s: float = 10) -> socket.socket:
    """A push on a raw socket: its request head and the first bytes of its body sent, the
    rest withheld for the test to send (or not)."""
    u = urlsplit(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=timeout_s)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"POST {u.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {content_length}\r\n{head}\r\n".encode() + body)
    return sock


def read_reply(sock: socket.socket) -> httpx.Response:
    """The one HTTP response on sock (raises TimeoutError at the socket's timeout)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    length = int({k.lower(): v for k, v in headers.items()}.get("content-length", 0))
    while len(body) < length:
        body += sock.recv(65536)
    return httpx.Response(int(lines[0].split()[1]), headers=headers, content=body)

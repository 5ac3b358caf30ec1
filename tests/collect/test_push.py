"""Pushing the spool to a real ingest server: oldest first, retried through an outage, an
invalid segment moved aside, and signatures the server accepts."""
from __future__ import annotations

import asyncio
import logging
import random
import socket
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from collect import spool
from collect.push import Backoff, PushFailed, PushTarget, drain, endpoint, push_once
from collect.records import round_slot
from tests.ingest.ingest_fixtures import launch, results, running, secret

FAST = Backoff(base_s=0.05, cap_s=0.3)


def target(url: str) -> PushTarget:
    return PushTarget(endpoint(url), "ewr", secret("ewr"))


def run_drain(url: str, spool_dir, timeout_s: float | None = None) -> int | None:
    """What drain acknowledged, or None when it was still retrying after timeout_s."""
    async def go() -> int:
        async with httpx.AsyncClient(timeout=10) as client:
            return await drain(client, target(url), spool_dir, FAST, random.Random(1))

    async def bounded() -> int | None:
        try:
            return await asyncio.wait_for(go(), timeout_s)
        except TimeoutError:
            return None
    return asyncio.run(bounded())


def test_backoff_grows_exponentially_with_bounded_jitter():
    backoff, rng = Backoff(base_s=1.0, cap_s=60.0), random.Random(3)
    for attempt, step in enumerate([1, 2, 4, 8, 16, 32, 60, 60]):
        delay = backoff.delay_s(attempt, rng)
        assert step / 2 <= delay <= step
    assert len({round(backoff.delay_s(3, rng), 6) for _ in range(10)}) > 1


def test_drain_pushes_oldest_first_and_empties_the_spool(tmp_path):
    first = round_slot(time.time()) - 3 * 900
    for i in range(3):
        spool.append_round(tmp_path / "spool", first + i * 900, results(round_ts=first + i * 900))
    with running(tmp_path / "c.db") as server:
        assert run_drain(server.url, tmp_path / "spool") == 54
    assert spool.pending(tmp_path / "spool") == []
    order = [r for r, in sqlite3.connect(tmp_path / "c.db").execute(
        "SELECT round_ts FROM results GROUP BY round_ts ORDER BY min(rowid)")]
    assert order == [first, first + 900, first + 1800]


def test_drain_retries_through_an_outage_until_central_is_back(tmp_path):
    spool.append_round(tmp_path / "spool", round_slot(time.time()), results())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    servers = []
    later = threading.Timer(1.0, lambda: servers.append(launch(tmp_path / "c.db", listen=f"127.0.0.1:{port}")))
    later.start()
    try:
        assert run_drain(f"http://127.0.0.1:{port}", tmp_path / "spool") == 18
    finally:
        later.join()
        for server in servers:
            server.proc.kill()
            server.proc.wait()
    assert sqlite3.connect(tmp_path / "c.db").execute("SELECT count(*) FROM results").fetchone() == (18,)


def test_a_segment_central_refuses_is_moved_aside_and_the_next_still_goes(tmp_path):
    now = round_slot(time.time())
    spool.append_round(tmp_path / "spool", now - 900, [{**results()[0], "loss": 7}])
    spool.append_round(tmp_path / "spool", now, results())
    with running(tmp_path / "c.db") as server:
        assert run_drain(server.url, tmp_path / "spool") == 18
    assert [p.name for p in (tmp_path / "spool" / "rejected").iterdir()] == [f"{now - 900:012d}.jsonl"]


def test_a_round_stays_spooled_while_central_answers_507_and_goes_once_it_has_room(tmp_path):
    spool.append_round(tmp_path / "spool", round_slot(time.time()), results())
    with running(tmp_path / "c.db", "--min-free-bytes", str(1 << 62)) as server:
        assert run_drain(server.url, tmp_path / "spool", timeout_s=1.5) is None
    assert len(spool.pending(tmp_path / "spool")) == 1
    with running(tmp_path / "c.db", "--min-free-bytes", "0") as server:
        assert run_drain(server.url, tmp_path / "spool") == 18
    assert spool.pending(tmp_path / "spool") == []


def answering_200(body: bytes) -> ThreadingHTTPServer:
    """A server that answers every POST 200 with body, in a thread."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_200_that_is_not_an_ingest_reply_is_a_failed_push_to_retry():
    server = answering_200(b"<html>welcome</html>")  # a wrong URL or a captive portal

    async def go():
        async with httpx.AsyncClient(timeout=10) as client:
            await push_once(client, target(f"http://127.0.0.1:{server.server_port}"),
                            [b'{"a":1}'], time.time())
    try:
        with pytest.raises(PushFailed, match="not an ingest reply"):
            asyncio.run(go())
    finally:
        server.shutdown()
        server.server_close()


def test_a_round_stays_spooled_until_central_acknowledges_it_durably(tmp_path, caplog):
    spool.append_round(tmp_path / "spool", round_slot(time.time()), results())
    server = answering_200(b'{"stored": 18, "duplicates": 0}')  # committed, maybe not on disk
    try:
        with caplog.at_level(logging.WARNING, logger="nettrace.push"):
            assert run_drain(f"http://127.0.0.1:{server.server_port}", tmp_path / "spool",
                             timeout_s=1.0) is None
    finally:
        server.shutdown()
        server.server_close()
    assert len(spool.pending(tmp_path / "spool")) == 1
    assert "did not confirm a durable commit" in caplog.text

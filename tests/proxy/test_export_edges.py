"""Exports whose client stops reading or leaves: the WAL can be checkpointed again at once, the
server drops a stalled client after --stall-timeout, and each key holds at most
MAX_EXPORTS_PER_KEY exports, a slot coming free when its client leaves or is dropped."""
from __future__ import annotations

import json
import socket
import time

import pytest

from collect.records import ROUND_S, round_slot
from db.connection import connect
from proxy.limits import MAX_EXPORTS_PER_KEY
from tests.proxy.support import ProxyProcess, fill_results, new_key, write_site

ROWS = 300_000  # about 30 MB of CSV: far more than the socket buffers of both ends hold
STALL_S = 1.0
RECV_BUFFER = 4096


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("big")
    public, private = write_site(tmp)
    db = tmp / "central.sqlite"
    end = round_slot(time.time())
    fill_results(db, ROWS, end)
    proc = ProxyProcess(public, private, db, args=("--stall-timeout", str(STALL_S))).start()
    yield proc, end
    proc.stop()


def start_export(proc: ProxyProcess, key: str, end: int) -> tuple[socket.socket, bytes]:
    """A raw connection that asked for the whole export and read only its first bytes."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
    s.settimeout(10)
    s.connect(("127.0.0.1", proc.port))
    query = f"format=csv&from={end - 5 * 86400}&to={end + ROUND_S}"
    s.sendall(f"GET /api/v1/export?{query} HTTP/1.1\r\nHost: x\r\n"
              f"Authorization: Bearer {key}\r\n\r\n".encode())
    return s, s.recv(RECV_BUFFER)


def checkpointed_within(db, limit_s: float) -> bool:
    """True once a write followed by wal_checkpoint(TRUNCATE) completes (no reader holds an old
    snapshot), polling for at most limit_s."""
    conn = connect(db)
    conn.execute("PRAGMA busy_timeout=100")
    deadline = time.monotonic() + limit_s
    try:
        while True:
            conn.execute("INSERT OR REPLACE INTO hourly_dirty (region, hour_ts) VALUES ('zz', 0)")
            if conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
    finally:
        conn.close()


def drain(s: socket.socket) -> tuple[int, bool]:
    """(bytes read, whether the server ended the connection) reading until EOF, reset or 10 s."""
    got = 0
    try:
        while chunk := s.recv(1 << 20):
            got += len(chunk)
    except ConnectionResetError:
        pass
    except TimeoutError:
        return got, False
    return got, True


def test_an_export_whose_client_stops_reading_holds_no_snapshot_and_is_dropped(big):
    proc, end = big
    s, head = start_export(proc, new_key(proc.db, "enterprise"), end)
    assert head.startswith(b"HTTP/1.1 200")
    assert checkpointed_within(proc.db, STALL_S + 5)
    time.sleep(STALL_S + 2)  # reading now would resume a stream the server has not dropped
    got, ended = drain(s)
    s.close()
    assert ended and got < ROWS * 50, f"the stalled export was not dropped ({got} bytes read)"


def test_an_export_whose_client_leaves_releases_its_snapshot_at_once(big):
    proc, end = big
    s, head = start_export(proc, new_key(proc.db, "enterprise"), end)
    s.recv(RECV_BUFFER)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # with linger 0: a reset, as a client that crashed sends
    assert head.startswith(b"HTTP/1.1 200")
    assert checkpointed_within(proc.db, 2.0)


def _status_and_body(s: socket.socket, head: bytes) -> tuple[int, dict | None]:
    status = int(head.split(b" ", 2)[1])
    if status == 200:
        return status, None
    while b"}" not in head:
        head += s.recv(RECV_BUFFER)
    return status, json.loads(head.partition(b"\r\n\r\n")[2])


def test_a_key_holds_at_most_its_export_slots_and_gets_one_back_when_a_client_goes(big):
    proc, end = big
    key = new_key(proc.db, "enterprise")
    held = [start_export(proc, key, end) for _ in range(MAX_EXPORTS_PER_KEY)]
    assert all(head.startswith(b"HTTP/1.1 200") for _, head in held)
    s, head = start_export(proc, key, end)
    status, body = _status_and_body(s, head)
    s.close()
    assert status == 429 and body["error"] == "too_many_exports", body
    other, other_head = start_export(proc, new_key(proc.db, "enterprise"), end)  # per key
    other.close()
    assert other_head.startswith(b"HTTP/1.1 200")

    held.pop()[0].close()  # a client that leaves frees its slot at once
    deadline = time.monotonic() + 2
    while True:
        s, head = start_export(proc, key, end)
        s.close()
        if head.startswith(b"HTTP/1.1 200") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert head.startswith(b"HTTP/1.1 200")

    time.sleep(STALL_S + 2)  # the last stalled client has been dropped: both slots are free
    again = [start_export(proc, key, end) for _ in range(MAX_EXPORTS_PER_KEY)]
    for s, _ in held + again:
        s.close()
    assert all(head.startswith(b"HTTP/1.1 200") for _, head in again)

"""What the ingest server decides before it reads a body: region, timestamp, the head
signature and the body signature's form from the headers, the limit on pushes in flight, and
deadlines that drop connections which send their headers, or a refused body, too slowly."""
from __future__ import annotations

import socket
import time

import pytest

from collect.signing import sign
from tests.ingest.ingest_fixtures import body_of, open_push, push, read_reply, results, running, secret

BIG = 1_000_000  # a declared body the server must never wait for


def signed(body: bytes, region: str = "ewr", ts: float | None = None) -> dict:
    return sign(secret(region), region, int(time.time() if ts is None else ts), body)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # the default body timeout (30 s): a refusal that waited for the body would time out here
    with running(tmp_path_factory.mktemp("admit") / "central.db", "--header-timeout", "1",
                 "--max-in-flight", "2") as s:
        yield s


def without(header: str) -> dict:
    return {k: v for k, v in signed(b"x").items() if k != header}


HEADERS = {
    "unknown region": lambda: signed(b"x", "xyz") | {"X-NetTrace-Region": "xyz"},
    "stale timestamp": lambda: signed(b"x", ts=time.time() - 600),
    "no head signature": lambda: without("X-NetTrace-Head-Signature"),
    "forged head signature": lambda: signed(b"x") | {"X-NetTrace-Head-Signature": "v1=" + "0" * 64},
    "another region's secret": lambda: sign(secret("ord"), "ewr", int(time.time()), b"x"),
    "no body signature": lambda: without("X-NetTrace-Signature"),
    "malformed body signature": lambda: signed(b"x") | {"X-NetTrace-Signature": "v1=forged"},
}


@pytest.mark.parametrize("case", HEADERS)
def test_a_push_the_headers_condemn_is_refused_with_401_before_its_body_is_sent(server, case):
    with open_push(server.push_url, HEADERS[case](), BIG, timeout_s=3) as sock:
        reply = read_reply(sock)
    assert reply.status_code == 401 and reply.json()["error"] == "unauthorized"


def test_a_slow_body_nobody_with_the_secret_signed_is_refused_within_a_second(server):
    started = time.monotonic()
    with open_push(server.push_url, HEADERS["forged head signature"](), BIG, b"{",
                   timeout_s=0.1) as sock:
        while True:
            try:
                reply = read_reply(sock)
                break
            except TimeoutError:
                sock.sendall(b" ")  # a byte every 0.1 s, as a slowloris body would
    assert reply.status_code == 401 and time.monotonic() - started < 1.0


def closed_within(sock: socket.socket, timeout_s: float, trickle: bytes = b"") -> bool:
    """Whether the server closes sock within timeout_s; trickle is sent every 0.2 s meanwhile."""
    deadline = time.monotonic() + timeout_s
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            pass
        except ConnectionResetError:
            return True
        try:
            if trickle:
                sock.sendall(trickle)
        except (BrokenPipeError, ConnectionResetError):
            return True
    return False


def test_half_sent_headers_are_dropped_after_the_header_timeout(server):
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/results HTTP/1.1\r\nHost: x\r\nX-NetTrace-Reg")
        assert closed_within(sock, 3)


def test_a_keep_alive_request_whose_headers_stall_is_dropped_too(server):
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=3) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in sock.recv(65536)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        assert closed_within(sock, 3)


def test_a_body_trickled_after_its_refusal_cannot_hold_the_connection(server):
    with open_push(server.push_url, HEADERS["unknown region"](), BIG, timeout_s=3) as sock:
        assert read_reply(sock).status_code == 401
        assert closed_within(sock, 3, trickle=b" ")


def test_pushes_beyond_the_in_flight_limit_answer_503_with_retry_after_and_the_rest_store(server):
    bodies = [body_of(results(region, targets=1)) for region in ("ord", "lhr", "fra")]
    waiting = [open_push(server.push_url, signed(body, region), len(body), body[:10])
               for body, region in zip(bodies[:2], ("ord", "lhr"))]
    time.sleep(0.3)  # both are past their headers, waiting for the rest of their bodies
    refused = push(server.push_url, bodies[2], "fra")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert refused.json()["error"] == "busy"
    for sock, body in zip(waiting, bodies):
        sock.sendall(body[10:])
        assert read_reply(sock).status_code == 200
        sock.close()
    assert push(server.push_url, bodies[2], "fra").status_code == 200


def test_many_slow_pushes_at_once_never_hold_more_than_the_limit(server):
    body = body_of(results("bom", targets=1))
    socks = [open_push(server.push_url, signed(body, "bom"), len(body)) for _ in range(2)]
    try:
        time.sleep(0.3)
        answers = [push(server.push_url, body, "bom").status_code for _ in range(5)]
    finally:
        for sock in socks:
            sock.close()
    assert answers == [503] * 5
    deadline = time.monotonic() + 5
    while push(server.push_url, body, "bom").status_code != 200:  # slots free once they hang up
        assert time.monotonic() < deadline
        time.sleep(0.1)

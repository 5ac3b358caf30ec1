"""The proxy's hard edges over real HTTP: admission before any cut, a per-client limit on calls
without a valid key (Fly-Client-IP only when trusted), the header-read deadline, error bodies
without internals, and security headers on every answer."""
from __future__ import annotations

import socket
import time

import httpx
import pytest

from db.connection import connect
from proxy.keys import generate_key
from proxy.limits import FAILURE_BURST
from tests.proxy.support import HOSTS, ProxyProcess, new_key, raw_get

HEADER_TIMEOUT_S = 1.0


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _spend(db, key: str, calls: int) -> None:
    conn = connect(db)
    key_id = conn.execute("SELECT id FROM api_keys WHERE prefix = ?", (key[:9],)).fetchone()[0]
    day = time.strftime("%Y-%m-%d", time.gmtime())
    conn.execute("INSERT INTO usage (key_id, day, calls) VALUES (?, ?, ?)", (key_id, day, calls))
    conn.close()


@pytest.fixture
def own_server(own_site):
    proc = ProxyProcess(*own_site, args=("--header-timeout", str(HEADER_TIMEOUT_S))).start()
    yield proc
    proc.stop()


def test_a_call_refused_for_its_quota_never_reaches_the_cut(own_server, own_site):
    """Files the cut cannot parse: a cut run before admission would answer 500, not 429."""
    public, private, db = own_site
    for rel in (f"api/v1/latency/{HOSTS[0]}/history-30d.json", "api/v1/compare.json",
                "api/v1/signals/history.json"):
        (private / rel).write_text("{not json")
    key = new_key(db, "pro")
    _spend(db, key, 10_000)
    for path in (f"/api/v1/latency/{HOSTS[0]}/history?hours=48", "/api/v1/signals/history",
                 f"/api/v1/compare?targets={HOSTS[0]},{HOSTS[1]}"):
        r = httpx.get(own_server.url + path, headers=_auth(key))
        assert (r.status_code, r.json()["error"]) == (429, "quota_exceeded"), (path, r.text)
    admitted = httpx.get(own_server.url + "/api/v1/signals/history", headers=_auth(new_key(db, "pro")))
    assert admitted.json() == {"error": "internal", "detail": "unexpected error"}
    assert admitted.status_code == 500 and "Expecting" not in admitted.text


def test_a_failed_quota_write_answers_a_generic_503_and_logs_the_cause(own_site):
    proc = ProxyProcess(*own_site).start()
    try:
        conn = connect(own_site[2])
        conn.execute("CREATE TRIGGER usage_broken BEFORE INSERT ON usage BEGIN "
                     "SELECT RAISE(ABORT, 'internal-marker disk gone'); END")
        conn.close()
        r = httpx.get(proc.url + "/api/v1/targets", headers=_auth(new_key(own_site[2], "free")))
    finally:
        proc.stop()
    assert (r.status_code, r.json()["error"]) == (503, "quota_unavailable")
    assert "internal-marker" not in r.text and r.headers["retry-after"] == "1"
    assert "internal-marker disk gone" in proc.log


def test_a_flood_of_bad_keys_from_one_client_is_refused_before_any_key_is_looked_at(own_server, own_site):
    statuses = []
    with httpx.Client(base_url=own_server.url) as client:
        for _ in range(FAILURE_BURST + 5):
            statuses.append(client.get("/api/v1/targets", headers=_auth(generate_key())).status_code)
        throttled = client.get("/api/v1/targets", headers=_auth(generate_key()))
        never_checked = client.get("/api/v1/targets", headers=_auth(new_key(own_site[2], "free")))
        no_key = client.get("/api/v1/targets")
        free_file = client.get("/api/v1/targets.json")
    assert statuses[:FAILURE_BURST] == [401] * FAILURE_BURST and set(statuses[FAILURE_BURST:]) == {429}
    assert throttled.json()["error"] == "too_many_failures" and int(throttled.headers["retry-after"]) >= 1
    assert never_checked.status_code == 429 and no_key.status_code == 429
    assert free_file.status_code == 200  # what needs no key is never refused
    time.sleep(int(throttled.headers["retry-after"]))
    again = httpx.get(own_server.url + "/api/v1/targets", headers=_auth(generate_key()))
    assert (again.status_code, again.json()["error"]) == (401, "unknown_key")


def _flood(url: str, fly_ip: str | None, n: int) -> list[int]:
    """Statuses of n calls with forged keys, each with its own Fly-Client-IP when fly_ip is
    None (a client trying to look like many), else with fly_ip."""
    with httpx.Client(base_url=url) as client:
        return [client.get("/api/v1/targets", headers={
            **_auth(generate_key()), "Fly-Client-IP": fly_ip or f"198.51.100.{i % 250}"}).status_code
            for i in range(n)]


def test_fly_client_ip_is_ignored_unless_trusted(own_server):
    statuses = _flood(own_server.url, None, FAILURE_BURST + 3)
    assert statuses[-3:] == [429] * 3, "a forged Fly-Client-IP escaped the limit"


def test_a_trusted_fly_client_ip_gives_each_client_its_own_limit(own_site):
    proc = ProxyProcess(*own_site, args=("--trust-fly-client-ip",)).start()
    try:
        first = _flood(proc.url, "203.0.113.7", FAILURE_BURST + 1)
        second = _flood(proc.url, "203.0.113.8", 1)
    finally:
        proc.stop()
    assert first[-1] == 429 and second == [401]


def _closed_within(sock: socket.socket, limit_s: float) -> float:
    """Seconds until the server closed sock (EOF or reset); fails if it answers or waits."""
    t = time.monotonic()
    sock.settimeout(limit_s)
    try:
        assert sock.recv(1024) == b"", "the server answered instead of closing"
    except ConnectionResetError:
        pass
    return time.monotonic() - t


@pytest.mark.parametrize("sent", [b"", b"GET /api/v1/targets HTTP/1.1\r\nHost: x\r\nAuthor"])
def test_a_client_that_sends_half_its_headers_is_dropped_at_the_header_deadline(own_server, sent):
    with socket.create_connection(("127.0.0.1", own_server.port)) as s:
        s.sendall(sent)
        took_s = _closed_within(s, HEADER_TIMEOUT_S + 3)
    assert took_s >= HEADER_TIMEOUT_S - 0.2


def test_a_client_trickling_header_bytes_is_dropped_at_the_same_deadline(own_server):
    with socket.create_connection(("127.0.0.1", own_server.port)) as s:
        t = time.monotonic()
        try:
            for byte in b"GET / HTTP/1.1\r\nHost: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx":
                s.sendall(bytes([byte]))
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        _closed_within(s, 3)
    assert time.monotonic() - t < HEADER_TIMEOUT_S + 1.5


def test_a_client_trickling_a_body_after_its_answer_is_dropped_at_the_same_deadline(own_server):
    with socket.create_connection(("127.0.0.1", own_server.port)) as s:
        s.sendall(b"GET /api/v1/targets.json HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        s.settimeout(5)
        assert s.recv(12) == b"HTTP/1.1 200"  # answered before the body came
        t = time.monotonic()
        try:
            for _ in range(int(HEADER_TIMEOUT_S * 10) + 30):
                s.sendall(b"x")
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        took_s = time.monotonic() - t
    assert took_s < HEADER_TIMEOUT_S + 1.5, "a trickled body held the connection"


def test_a_keep_alive_connection_serves_requests_after_the_header_deadline(own_server):
    with httpx.Client(base_url=own_server.url) as client:
        assert client.get("/").status_code == 200
        time.sleep(HEADER_TIMEOUT_S + 0.5)  # idle between requests: the keep-alive timeout's job
        assert client.get("/").status_code == 200


SECURITY = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def test_every_answer_carries_the_security_headers(server, keys):
    auth = _auth(keys["enterprise"])
    answers = [
        httpx.get(server.url + "/"), httpx.get(server.url + "/static/site.css"),
        httpx.get(server.url + "/api/v1/targets", headers=auth),
        httpx.get(server.url + "/api/v1/targets"), httpx.get(server.url + "/nope.html"),
        httpx.post(server.url + "/api/v1/targets"), httpx.get(server.url + "/api/v1/stream", headers=auth),
        httpx.get(server.url + "/api/v1/export?format=csv", headers=auth),
        httpx.get(server.url + "/api/v1/targets", headers={**auth, "Origin": "https://example.org"}),
        httpx.options(server.url + "/api/v1/targets", headers={
            "Origin": "https://example.org", "Access-Control-Request-Method": "GET"}),
    ]
    etag = answers[1].headers["etag"]
    answers.append(httpx.get(server.url + "/static/site.css", headers={"If-None-Match": etag}))
    statuses = [r.status_code for r in answers]
    assert statuses == [200, 200, 200, 401, 404, 405, 426, 200, 200, 204, 304]
    for r in answers:
        assert {k: r.headers.get(k) for k in SECURITY} == SECURITY, r.url
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    for raw in (raw_get(server.port, "/static/" + "a" * 10_000),
                raw_get(server.port, "/", "X-Big: " + "a" * 100_000 + "\r\n")):
        assert raw[0] in (414, 431) and b"content-security-policy: " in raw[1].lower()

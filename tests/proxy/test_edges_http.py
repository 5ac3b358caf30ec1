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
from tests.proxy.support import HOSTS, ProxyProcess, new_key, raw_get, write_site

HEADER_TIMEOUT_S = 1.0


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _spend(db, key: str, calls: int) -> None:
    conn = connect(db)
    key_id = conn.execute("SELECT id FROM api_keys WHERE prefix = ?", (key[:9],)).fetchone()[0]
    day = time.strftime("%Y-%m-%d", time.gmtime())
    conn.execute("INSERT INTO usage (key_id, day, calls) VALUES (?, ?, ?)", (key_id, day, calls))
    conn.close()


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory):
    """A server and site of this module's own: one test spends its limit on failed calls, and
    its header deadline is short."""
    folder = tmp_path_factory.mktemp("edge")
    public, private = write_site(folder)
    connect(folder / "central.sqlite").close()
    proc = ProxyProcess(public, private, folder / "central.sqlite",
                        args=("--header-timeout", str(HEADER_TIMEOUT_S))).start()
    yield proc
    proc.stop()


def test_a_call_refused_for_its_quota_never_reaches_the_cut(own_site):
    """Files the cut cannot parse: a cut run before admission would answer 500, not 429."""
    public, private, db = own_site
    for rel in (f"api/v1/latency/{HOSTS[0]}/history-30d.json", "api/v1/compare.json",
                "api/v1/signals/history.json"):
        (private / rel).write_text("{not json")
    key = new_key(db, "pro")
    _spend(db, key, 10_000)
    with ProxyProcess(*own_site) as proc:
        for path in (f"/api/v1/latency/{HOSTS[0]}/history?hours=48", "/api/v1/signals/history",
                     f"/api/v1/compare?targets={HOSTS[0]},{HOSTS[1]}"):
            r = httpx.get(proc.url + path, headers=_auth(key))
            assert (r.status_code, r.json()["error"]) == (429, "quota_exceeded"), (path, r.text)
        admitted = httpx.get(proc.url + "/api/v1/signals/history", headers=_auth(new_key(db, "pro")))
    assert admitted.json() == {"error": "internal", "detail": "unexpected error"}
    assert admitted.status_code == 500 and "Expecting" not in admitted.text


def test_a_failed_quota_write_answers_a_generic_503_and_logs_the_cause(own_site):
    with ProxyProcess(*own_site) as proc:
        conn = connect(own_site[2])
        conn.execute("CREATE TRIGGER usage_broken BEFORE INSERT ON usage BEGIN "
                     "SELECT RAISE(ABORT, 'internal-marker disk gone'); END")
        conn.close()
        r = httpx.get(proc.url + "/api/v1/targets", headers=_auth(new_key(own_site[2], "free")))
    assert (r.status_code, r.json()["error"]) == (503, "quota_unavailable")
    assert "internal-marker" not in r.text and r.headers["retry-after"] == "1"
    assert "internal-marker disk gone" in proc.log


def _flood(url: str, n: int, fly_ip: str | None = None) -> list[int]:
    """Statuses of n calls with forged keys, from fly_ip, or (None) each with a Fly-Client-IP
    of its own, as a client trying to look like many would send."""
    with httpx.Client(base_url=url) as client:
        return [client.get("/api/v1/targets", headers={
            **_auth(generate_key()), "Fly-Client-IP": fly_ip or f"198.51.100.{i % 250}"}).status_code
            for i in range(n)]


def test_a_flood_of_bad_keys_from_one_client_is_refused_before_any_key_is_looked_at(edge_server):
    statuses = _flood(edge_server.url, FAILURE_BURST + 5)  # Fly-Client-IP is not trusted here
    with httpx.Client(base_url=edge_server.url) as client:
        throttled = client.get("/api/v1/targets", headers=_auth(generate_key()))
        never_checked = client.get("/api/v1/targets", headers=_auth(new_key(edge_server.db, "free")))
        no_key = client.get("/api/v1/targets")
        free_file = client.get("/api/v1/targets.json")
    assert statuses[:FAILURE_BURST] == [401] * FAILURE_BURST and set(statuses[FAILURE_BURST:]) == {429}
    assert throttled.json()["error"] == "too_many_failures" and int(throttled.headers["retry-after"]) >= 1
    assert never_checked.status_code == 429 and no_key.status_code == 429
    assert free_file.status_code == 200  # what needs no key is never refused
    time.sleep(int(throttled.headers["retry-after"]))
    again = httpx.get(edge_server.url + "/api/v1/targets", headers=_auth(generate_key()))
    assert (again.status_code, again.json()["error"]) == (401, "unknown_key")


def test_a_trusted_fly_client_ip_gives_each_client_its_own_limit(own_site):
    with ProxyProcess(*own_site, args=("--trust-fly-client-ip",)) as proc:
        first = _flood(proc.url, FAILURE_BURST + 1, "203.0.113.7")
        second = _flood(proc.url, 1, "203.0.113.8")
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
def test_a_client_that_sends_half_its_headers_is_dropped_at_the_header_deadline(edge_server, sent):
    with socket.create_connection(("127.0.0.1", edge_server.port)) as s:
        s.sendall(sent)
        took_s = _closed_within(s, HEADER_TIMEOUT_S + 3)
    assert took_s >= HEADER_TIMEOUT_S - 0.2


def test_a_client_trickling_header_bytes_is_dropped_at_the_same_deadline(edge_server):
    with socket.create_connection(("127.0.0.1", edge_server.port)) as s:
        t = time.monotonic()
        try:
            for byte in b"GET / HTTP/1.1\r\nHost: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx":
                s.sendall(bytes([byte]))
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        _closed_within(s, 3)
    assert time.monotonic() - t < HEADER_TIMEOUT_S + 1.5


def test_a_client_trickling_a_body_after_its_answer_is_dropped_at_the_same_deadline(edge_server):
    with socket.create_connection(("127.0.0.1", edge_server.port)) as s:
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


def test_a_keep_alive_connection_serves_requests_after_the_header_deadline(edge_server):
    with httpx.Client(base_url=edge_server.url) as client:
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

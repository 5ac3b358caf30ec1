"""Traversal, unknown hosts, absurd parameters and huge headers: always a clean 4xx, and never a
byte from outside public/ (or from private/ without a key)."""
from __future__ import annotations

import httpx
import pytest

from tests.proxy.support import HOSTS, raw_get

SECRET = b"TOP-SECRET"
PRIVATE_MARK = b"level_shift"  # only in private/api/v1/signals.json
TRAVERSALS = [
    "/../secret.txt", "/../../etc/passwd", "/..%2fsecret.txt", "/%2e%2e/secret.txt",
    "/%2e%2e%2fsecret.txt", "/%252e%252e/secret.txt", "/%252e%252e%252fsecret.txt",
    "/static/..%5c..%5csecret.txt", "/static\\..\\..\\secret.txt", "/static/%5c..%5csecret.txt",
    "/static/leak.txt", "/static/%00", "/static/site.css%00.json", "/..%00/secret.txt",
    "/%c0%ae%c0%ae/secret.txt", "/.%2e/secret.txt", "/central.sqlite", "/../central.sqlite",
    "/private/api/v1/signals.json", "/../private/api/v1/signals.json",
    "/api/v1/../../private/api/v1/signals.json", "/widget/..%2f..%2fprivate%2fapi%2fv1%2fsignals.json",
    "/widget/../../secret.txt", "/widget/%2e%2e/%2e%2e/secret.txt",
    "/api/v1/latency/..%2f..%2f..%2fsecret.txt", "/api/v1/latency/%2e%2e/history",
    "/api/v1/routes/..%2f..%2f..%2f..%2fsecret.txt", "/api/v1/badge/../../../secret.txt",
    "/api/v1/badge/..%2f..%2f..%2fsecret.txt", "/status/..%2f..%2fsecret.txt",
    "/.hidden", "/static/.%2e/.%2e/secret.txt", "//etc/passwd", "/static//../../secret.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_gets_a_clean_4xx_and_no_outside_byte(server, keys, path):
    for headers in ("", f"Authorization: Bearer {keys['enterprise']}\r\n"):
        status, head, body = raw_get(server.port, path, headers)
        assert 400 <= status < 500, (path, status, body[:200])
        assert SECRET not in body and PRIVATE_MARK not in body and b"root:" not in body
        if b"application/json" in head:
            assert b'"error"' in body


@pytest.mark.parametrize("query", [
    f"/api/v1/latency/{HOSTS[0]}/history?hours=abc", f"/api/v1/latency/{HOSTS[0]}/history?hours=-5",
    f"/api/v1/latency/{HOSTS[0]}/history?hours=0", f"/api/v1/latency/{HOSTS[0]}/history?hours=1e9",
    f"/api/v1/latency/{HOSTS[0]}/history?hours=99999999999999999999",
    f"/api/v1/latency/{HOSTS[0]}/history?hours=%00", "/api/v1/compare?targets=,,,", "/api/v1/export?from=2026-11-25T00:00:00",
    "/api/v1/export?from=2026-02-30", "/api/v1/export?to=2026-13-01T00:00:00Z",
    "/api/v1/compare?targets=" + ",".join(f"h{i}.com" for i in range(50)), "/api/v1/compare",
    "/api/v1/rankings?category=" + "x" * 300, "/api/v1/export?format=xml",
    "/api/v1/export?from=garbage", "/api/v1/export?to=2026-11-25T25:00",
    "/api/v1/export?from=" + "9" * 300, "/api/v1/export?to=%00",
])
def test_absurd_parameters_get_a_400_json(server, keys, query):
    r = httpx.get(server.url + query, headers={"Authorization": f"Bearer {keys['enterprise']}"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_parameter"


@pytest.mark.parametrize("query", ["from=0", "from=-99999999999&to=99999999999",
                                   "from=2026-11-25T00:00:00Z&to=2026-11-24T00:00:00Z",
                                   "from=9999-12-31T23:59:59%2B14:00", "from=0001-01-01"])
def test_export_windows_beyond_the_tier_are_capped_not_refused(server, keys, query):
    r = httpx.get(f"{server.url}/api/v1/export?format=csv&{query}",
                  headers={"Authorization": f"Bearer {keys['enterprise']}"})
    assert r.status_code == 200 and r.text.startswith("id,target,region")


@pytest.mark.parametrize("host", ["unknown.example.com", "UNKNOWN", "a" * 300, "x..y", "-bad.com",
                                  "a.com%00", "%2e%2e"])
def test_unknown_hosts_get_404_json(server, keys, host):
    for path in (f"/api/v1/latency/{host}", f"/api/v1/latency/{host}/history",
                 f"/api/v1/routes/{host}", f"/widget/{host}"):
        r = httpx.get(server.url + path, headers={"Authorization": f"Bearer {keys['enterprise']}"})
        assert r.status_code in (400, 404) and r.json()["error"] in ("unknown_target", "not_found", "bad_path")


@pytest.mark.parametrize("headers, status", [
    ("X-Big: " + "a" * 100_000 + "\r\n", 431),
    ("".join(f"X-H{i}: v\r\n" for i in range(300)), 431),
    ("Authorization: Bearer " + "nt_" * 20_000 + "\r\n", 431),
])
def test_huge_headers_get_431(server, headers, status):
    got, _, body = raw_get(server.port, "/api/v1/targets", headers)
    assert got == status and b"headers_too_large" in body


def test_a_huge_url_gets_414(server):
    got, _, body = raw_get(server.port, "/static/" + "a" * 10_000)
    assert got == 414 and b"uri_too_long" in body


def test_other_methods_get_405_json(server):
    r = httpx.post(server.url + "/api/v1/targets")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def test_malformed_authorization_headers_get_401(server):
    for value in ("Bearer", "Basic dXNlcjpwYXNz", "Bearer nt_", "Bearer " + "\u00e9" * 39, "nt_x y"):
        r = httpx.get(server.url + "/api/v1/targets", headers={"Authorization": value.encode()})
        assert r.status_code == 401 and r.json()["error"] in ("malformed_key", "missing_key")

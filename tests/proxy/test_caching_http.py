"""ETag / If-None-Match, Cache-Control, gzip and br, and CORS for the playground."""
from __future__ import annotations

import gzip

import brotli
import httpx

from tests.proxy.support import HOSTS


def _raw(url: str, **headers) -> tuple[httpx.Headers, bytes]:
    """Headers and the bytes on the wire, without httpx's automatic decoding."""
    with httpx.Client() as client, client.stream("GET", url, headers=headers) as response:
        return response.headers, b"".join(response.iter_raw())


def test_files_carry_etag_and_cache_control_and_answer_304(server, keys):
    auth = {"Authorization": f"Bearer {keys['pro']}"}
    for path, headers in (("/static/site.css", {}), ("/api/v1/targets", auth),
                          (f"/widget/{HOSTS[0]}", {}), ("/metrics", {})):
        first = httpx.get(server.url + path, headers=headers)
        assert first.status_code == 200 and first.headers["etag"].startswith('"')
        assert "max-age" in first.headers["cache-control"]
        again = httpx.get(server.url + path, headers={**headers, "If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == first.headers["etag"]
    keyed = httpx.get(server.url + "/api/v1/targets", headers=auth)
    assert keyed.headers["cache-control"].startswith("private")
    assert httpx.get(server.url + "/static/site.css").headers["cache-control"].startswith("public")


def test_a_changed_file_gets_a_new_etag(server, site):
    css = site[0] / "static" / "extra.css"
    css.write_text("a{color:red}")
    first = httpx.get(server.url + "/static/extra.css").headers["etag"]
    css.write_text("a{color:blue}")
    second = httpx.get(server.url + "/static/extra.css", headers={"If-None-Match": first})
    assert second.status_code == 200 and second.text == "a{color:blue}" and second.headers["etag"] != first


def test_gzip_and_br_are_sent_when_asked_and_decode_to_the_file(server, site):
    original = (site[0] / "static" / "site.css").read_bytes()
    plain, plain_body = _raw(server.url + "/static/site.css", **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain and plain_body == original
    gz, gz_body = _raw(server.url + "/static/site.css", **{"Accept-Encoding": "gzip"})
    assert gz["content-encoding"] == "gzip" and gzip.decompress(gz_body) == original
    br, br_body = _raw(server.url + "/static/site.css", **{"Accept-Encoding": "gzip, br"})
    assert br["content-encoding"] == "br" and brotli.decompress(br_body) == original
    refused, _ = _raw(server.url + "/static/site.css", **{"Accept-Encoding": "br;q=0, gzip"})
    assert refused["content-encoding"] == "gzip"
    assert len({plain["etag"], gz["etag"], br["etag"]}) == 3
    assert "Accept-Encoding" in gz["vary"]


def test_cors_preflight_and_simple_requests_allow_the_playground(server, keys):
    pre = httpx.options(server.url + "/api/v1/targets", headers={
        "Origin": "https://example.org", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] in ("*", "https://example.org")
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    r = httpx.get(server.url + "/api/v1/targets", headers={
        "Origin": "https://example.org", "Authorization": f"Bearer {keys['free']}"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "x-ratelimit-remaining" in r.headers["access-control-expose-headers"].lower()


def test_head_answers_headers_only(server):
    r = httpx.head(server.url + "/static/site.css", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) == len(httpx.get(server.url + "/static/site.css").content)

"""/api/v1/webhooks over HTTP on a real server: who may use it, what a registration must hold,
the per-key limit (exact under concurrency), keys rotated and revoked, and the keyed Atom feed."""
from __future__ import annotations

import asyncio
import time

import feedparser
import httpx
import pytest

from db.connection import connect
from proxy.keys import revoke_key, rotate_key
from tests.conftest import free_port
from tests.proxy.support import PEPPER
from tests.proxy.webhook_support import listing, open_signal, register

NOW = int(time.time())


def _closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: pings fail quietly


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("method, path", [
    ("POST", "/api/v1/webhooks"), ("GET", "/api/v1/webhooks"),
    ("DELETE", "/api/v1/webhooks/wh_0123456789ABCDEFGHIJ"),
    ("GET", "/api/v1/webhooks/wh_0123456789ABCDEFGHIJ/deliveries"),
    ("GET", "/api/v1/feeds/signals.atom")])
def test_a_free_key_gets_403_naming_the_pro_tier(webhook_server, keys, method, path):
    r = httpx.request(method, webhook_server.url + path, headers=_auth(keys["free"]),
                      json={"url": _closed_url()} if method == "POST" else None)
    assert r.status_code == 403
    assert r.json()["error"] == "tier_required" and r.json()["required_tier"] == "pro"


def test_no_key_gets_401(webhook_server):
    r = httpx.post(webhook_server.url + "/api/v1/webhooks", json={"url": _closed_url()})
    assert (r.status_code, r.json()["error"]) == (401, "missing_key")


def test_registration_answers_201_with_the_secret_once_and_the_listing_never_shows_it(
        webhook_server, keys):
    r = register(webhook_server.url, keys["pro"], _closed_url(), types=["level_shift", "loss"],
                 targets=["API.Kraken.com"], categories=["Crypto Exchanges"],
                 min_severity="warning", in_session=True, format="slack")
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["id"].startswith("wh_") and doc["secret"].startswith("whsec_")
    listed = listing(webhook_server.url, keys["pro"])[doc["id"]]
    assert "secret" not in listed and doc["secret"] not in str(listed)
    assert {k: listed[k] for k in ("types", "targets", "categories", "min_severity",
                                   "in_session", "format", "status")} == {
        "types": ["level_shift", "loss"], "targets": ["api.kraken.com"],
        "categories": ["crypto-exchanges"], "min_severity": "warning", "in_session": True,
        "format": "slack", "status": "active"}
    assert r.headers["cache-control"] == "no-store" and "x-ratelimit-remaining" in r.headers


@pytest.mark.parametrize("body, detail", [
    ({}, "url is required"),
    ({"url": "x", "colour": "red"}, "unknown field 'colour'"),
    ({"url": "x", "types": ["earthquake"]}, "unknown type 'earthquake'"),
    ({"url": "x", "types": "level_shift"}, "types must be a list of strings"),
    ({"url": "x", "targets": ["nope.example.com"]}, "no target 'nope.example.com'"),
    ({"url": "x", "categories": ["Bakeries"]}, "no category 'bakeries'"),
    ({"url": "x", "min_severity": "loud"}, "min_severity must be one of"),
    ({"url": "x", "in_session": "yes"}, "in_session must be true, false or null"),
    ({"url": "x", "format": "xml"}, "format must be one of"),
    ({"url": "x", "targets": ["a.com"] * 101}, "targets holds at most 100 items"),
    ([1, 2], "the body must be a JSON object"),
])
def test_a_bad_registration_is_a_400_naming_the_field(webhook_server, keys, body, detail):
    r = httpx.post(webhook_server.url + "/api/v1/webhooks", json=body, headers=_auth(keys["pro"]))
    assert r.status_code == 400 and r.json()["error"] == "bad_webhook", r.text
    assert detail in r.json()["detail"]


def test_a_body_that_is_not_json_or_too_big_is_refused(webhook_server, keys):
    url = webhook_server.url + "/api/v1/webhooks"
    bad = httpx.post(url, content=b"{nope", headers=_auth(keys["pro"]))
    big = httpx.post(url, content=b"{" + b" " * 70_000 + b"}", headers=_auth(keys["pro"]))
    assert (bad.status_code, bad.json()["detail"]) == (400, "the body is not JSON")
    assert (big.status_code, big.json()["error"]) == (413, "body_too_large")


def test_a_key_holds_at_most_10_webhooks_even_when_asked_concurrently(webhook_server, keys):
    async def burst():
        async with httpx.AsyncClient(base_url=webhook_server.url, headers=_auth(keys["pro"]),
                                     timeout=20) as client:
            return await asyncio.gather(*(client.post("/api/v1/webhooks",
                                                      json={"url": _closed_url()})
                                          for _ in range(16)))
    answers = asyncio.run(burst())
    assert sorted(r.status_code for r in answers) == [201] * 10 + [409] * 6
    refused = next(r for r in answers if r.status_code == 409)
    assert refused.json()["error"] == "too_many_webhooks"
    assert len(listing(webhook_server.url, keys["pro"])) == 10


def test_a_webhook_of_another_key_cannot_be_seen_or_removed(webhook_server, keys):
    hook = register(webhook_server.url, keys["pro"], _closed_url()).json()
    other = keys["enterprise"]
    gone = httpx.delete(f"{webhook_server.url}/api/v1/webhooks/{hook['id']}", headers=_auth(other))
    log = httpx.get(f"{webhook_server.url}/api/v1/webhooks/{hook['id']}/deliveries",
                    headers=_auth(other))
    assert (gone.status_code, log.status_code) == (404, 404)
    assert hook["id"] not in listing(webhook_server.url, other)
    assert hook["id"] in listing(webhook_server.url, keys["pro"])


@pytest.mark.parametrize("hook_id", ["nope", "wh_short", "wh_" + "x" * 21,
                                     "wh_0123456789ABCDEFGHI!"])
def test_a_malformed_webhook_id_is_a_404(webhook_server, keys, hook_id):
    r = httpx.delete(f"{webhook_server.url}/api/v1/webhooks/{hook_id}", headers=_auth(keys["pro"]))
    assert (r.status_code, r.json()["error"]) == (404, "unknown_webhook")


def test_webhooks_follow_a_rotated_key_and_a_revoked_key_loses_them(webhook_server, site, keys):
    hook = register(webhook_server.url, keys["pro"], _closed_url()).json()
    conn = connect(site[2])
    try:
        new_key, new_row = rotate_key(conn, keys["pro"][:9], PEPPER.encode(), time.time())
        assert hook["id"] in listing(webhook_server.url, new_key)
        revoke_key(conn, str(new_row.id), time.time())
    finally:
        conn.close()
    time.sleep(1.1)  # the proxy trusts a checked key for a second
    r = httpx.get(f"{webhook_server.url}/api/v1/webhooks", headers=_auth(new_key))
    assert (r.status_code, r.json()["error"]) == (401, "revoked_key")


def test_the_keyed_feed_is_real_time_with_every_scope_and_parses_cleanly(webhook_server, site,
                                                                         keys):
    open_signal(site[2], "feed-regional", NOW - 60, scope="regional", in_session=0)
    open_signal(site[2], "feed-global", NOW - 30)
    url = webhook_server.url + "/api/v1/feeds/signals.atom"
    r = httpx.get(url, headers=_auth(keys["pro"]))
    assert r.status_code == 200 and r.headers["content-type"] == "application/atom+xml"
    feed = feedparser.parse(r.content)
    assert not feed.bozo, feed.get("bozo_exception")
    titles = [e.title for e in feed.entries]
    assert any("feed-regional" in t for t in titles) and any("feed-global" in t for t in titles)
    only_in = feedparser.parse(httpx.get(url + "?in_session=true",
                                         headers=_auth(keys["pro"])).content)
    assert not any("feed-regional" in e.title for e in only_in.entries)
    bad = httpx.get(url + "?in_session=maybe", headers=_auth(keys["pro"]))
    assert (bad.status_code, bad.json()["error"]) == (400, "bad_parameter")

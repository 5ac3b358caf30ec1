"""Every keyed endpoint per tier over real HTTP: allowed, or 403 naming the tier needed."""
from __future__ import annotations

import httpx
import pytest

from api.contract import TIERS
from tests.proxy.support import HOSTS

ORDER = list(TIERS)
# (path, the cheapest tier that may call it)
ENDPOINTS = [
    ("/api/v1/targets", "free"),
    (f"/api/v1/latency/{HOSTS[0]}", "free"),
    (f"/api/v1/latency/{HOSTS[0]}/history", "free"),
    ("/api/v1/rankings", "free"),
    ("/api/v1/rankings?category=Crypto%20Exchanges", "free"),
    ("/api/v1/signals", "pro"),
    ("/api/v1/signals/history", "pro"),
    (f"/api/v1/routes/{HOSTS[0]}", "pro"),
    (f"/api/v1/compare?targets={HOSTS[0]},{HOSTS[1]}", "pro"),
    ("/api/v1/export?format=jsonl", "enterprise"),
]


def test_every_endpoint_answers_each_tier_allowed_or_403_naming_the_tier(server, keys):
    with httpx.Client(base_url=server.url) as client:
        for path, cheapest in ENDPOINTS:
            for tier, key in keys.items():
                r = client.get(path, headers={"Authorization": f"Bearer {key}"})
                if ORDER.index(tier) >= ORDER.index(cheapest):
                    assert r.status_code == 200, (path, tier, r.text)
                    assert "x-ratelimit-reset" in r.headers
                else:
                    assert r.status_code == 403, (path, tier, r.text)
                    assert r.json()["error"] == "tier_required"
                    assert r.json()["required_tier"] == cheapest
                    assert cheapest in r.json()["detail"]


@pytest.mark.parametrize("path", [p for p, _ in ENDPOINTS] + ["/api/v1/stream"])
def test_keyed_endpoints_without_a_key_answer_401_json(server, path):
    r = httpx.get(server.url + path)
    assert r.status_code == 401
    assert r.json()["error"] == "missing_key"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_key_with_a_typo_is_rejected_as_malformed(server, keys):
    key = keys["pro"]
    typo = key[:10] + ("a" if key[10] != "a" else "b") + key[11:]
    r = httpx.get(server.url + "/api/v1/targets", headers={"Authorization": f"Bearer {typo}"})
    assert (r.status_code, r.json()["error"]) == (401, "malformed_key")


def test_a_well_formed_key_never_issued_is_unknown(server):
    from proxy.keys import generate_key
    r = httpx.get(server.url + "/api/v1/targets", headers={"Authorization": f"Bearer {generate_key()}"})
    assert (r.status_code, r.json()["error"]) == (401, "unknown_key")


def test_docs_openapi_widget_metrics_and_pages_need_no_key(server):
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/api/v1/").json()["endpoints"]
        assert client.get("/api/v1/openapi.json").json()["openapi"] == "3.1.0"
        widget = client.get(f"/widget/{HOSTS[0]}")
        assert widget.headers["content-type"] == "image/svg+xml"
        assert widget.text.startswith("<svg")
        assert client.get(f"/widget/{HOSTS[0]}/fra").text.startswith("<svg")
        assert client.get(f"/widget/{HOSTS[0]}.svg").status_code == 200
        metrics = client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "up 1" in metrics.text
        assert "<title>NetTrace" in client.get("/").text
        assert "status" in client.get("/status/").text
        assert HOSTS[1] in client.get(f"/status/{HOSTS[1]}/").text
        assert client.get(f"/api/v1/badge/{HOSTS[0]}.json").json()["label"] == "latency"


def test_public_json_is_free_at_its_cdn_path_and_private_json_never_is(server, site):
    r = httpx.get(server.url + "/api/v1/targets.json")
    assert r.status_code == 200 and "x-ratelimit-reset" not in r.headers
    for path in ("/api/v1/signals.json", "/private/api/v1/signals.json", "/api/v1/compare.json",
                 f"/api/v1/latency/{HOSTS[0]}/history-30d.json", f"/api/v1/routes/{HOSTS[0]}.json"):
        assert httpx.get(server.url + path).status_code in (401, 404), path  # keyed route or none


def test_history_window_follows_the_tier_and_hours_is_capped(server, keys):
    def points(tier, query=""):
        r = httpx.get(f"{server.url}/api/v1/latency/{HOSTS[0]}/history{query}",
                      headers={"Authorization": f"Bearer {keys[tier]}"})
        assert r.status_code == 200, r.text
        ts = r.json()["regions"][0]["series"][0]["ts"]
        return int(r.headers["x-nettrace-window-hours"]), (ts[-1] - ts[0]) / 3600 + (ts[1] - ts[0]) / 3600

    assert points("free") == (24, 24)
    assert points("free", "?hours=2000") == (24, 24)  # capped by the tier
    assert points("free", "?hours=6") == (6, 6)
    assert points("pro") == (720, 720)
    assert points("pro", "?hours=48") == (48, 48)
    assert points("enterprise") == (2160, 2160)
    assert points("enterprise", "?hours=1000") == (1000, 1000)


def test_compare_keeps_only_the_targets_asked_for(server, keys):
    r = httpx.get(f"{server.url}/api/v1/compare?targets={HOSTS[2]},{HOSTS[0]}",
                  headers={"Authorization": f"Bearer {keys['pro']}"})
    assert sorted(t["host"] for t in r.json()["targets"]) == sorted([HOSTS[0], HOSTS[2]])


def test_signal_history_is_cut_to_the_tier_window(server, keys):
    def days(tier):
        r = httpx.get(f"{server.url}/api/v1/signals/history", headers={"Authorization": f"Bearer {keys[tier]}"})
        return len(r.json()["signals"])
    assert days("pro") == 30  # 0..29 days back: the window (now - 30 d, now]
    assert days("enterprise") == 60


@pytest.mark.parametrize("path, code", [
    ("/api/v1/latency/unknown.example.com", "unknown_target"),
    ("/api/v1/routes/nope.example.org", "unknown_target"),
    ("/api/v1/rankings?category=Nope%20Category", "unknown_category"),
    (f"/api/v1/compare?targets={HOSTS[0]},missing.example.com", "unknown_target"),
])
def test_unknown_targets_and_categories_are_404_json(server, keys, path, code):
    r = httpx.get(server.url + path, headers={"Authorization": f"Bearer {keys['enterprise']}"})
    assert (r.status_code, r.json()["error"]) == (404, code)


def test_the_stream_route_over_plain_http_asks_for_an_upgrade(server, keys):
    r = httpx.get(server.url + "/api/v1/stream", headers={"Authorization": f"Bearer {keys['enterprise']}"})
    assert (r.status_code, r.json()["error"]) == (426, "upgrade_required")

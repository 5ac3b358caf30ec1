"""Quotas over real HTTP: exact under concurrency, kept across restarts, reset at UTC midnight."""
from __future__ import annotations

import asyncio
import calendar
import os
import subprocess
import sys
import time

import httpx

from api.contract import TIERS
from db.connection import connect
from proxy.access import KEY_RECHECK_S
from tests.proxy.support import PEPPER, ROOT, ProxyProcess, new_key


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


async def _burst(url: str, key: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        return await asyncio.gather(*(client.get("/api/v1/targets", headers=_auth(key)) for _ in range(n)))


def _stored_calls(db, key_prefix: str) -> int:
    conn = connect(db, readonly=True)
    row = conn.execute("SELECT sum(u.calls) FROM usage u JOIN api_keys k ON k.id = u.key_id "
                       "WHERE k.prefix = ?", (key_prefix,)).fetchone()
    conn.close()
    return row[0] or 0


def test_500_parallel_requests_with_100_left_admit_exactly_100(server, site, keys):
    responses = asyncio.run(_burst(server.url, keys["free"], 500))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 100 and statuses.count(429) == 400
    remaining = sorted(int(r.headers["x-ratelimit-remaining"]) for r in responses if r.status_code == 200)
    assert remaining == list(range(100))  # each admitted call saw its own count
    assert _stored_calls(site[2], keys["free"][:9]) == 100


def test_a_pro_key_with_100_calls_left_admits_exactly_100_of_500(server, site):
    key = new_key(site[2], "pro")
    conn = connect(site[2])
    key_id = conn.execute("SELECT id FROM api_keys WHERE prefix = ?", (key[:9],)).fetchone()[0]
    day = time.strftime("%Y-%m-%d", time.gmtime())
    conn.execute("INSERT INTO usage (key_id, day, calls) VALUES (?, ?, ?)", (key_id, day, 9_900))
    conn.close()
    statuses = [r.status_code for r in asyncio.run(_burst(server.url, key, 500))]
    assert statuses.count(200) == 100 and statuses.count(429) == 400
    assert _stored_calls(site[2], key[:9]) == 10_000


def test_quota_headers_follow_github_and_the_ietf_draft(server, keys):
    r = httpx.get(server.url + "/api/v1/targets", headers=_auth(keys["free"]))
    reset = int(r.headers["x-ratelimit-reset"])
    assert r.headers["x-ratelimit-limit"] == "100"
    assert r.headers["x-ratelimit-remaining"] == "99"
    assert reset % 86400 == 0 and 0 < reset - time.time() <= 86400
    assert r.headers["ratelimit-policy"] == '"daily";q=100;w=86400'
    left = int(r.headers["ratelimit"].split("t=")[1])
    assert r.headers["ratelimit"].startswith('"daily";r=99;t=') and abs(left - (reset - time.time())) < 5
    unlimited = httpx.get(server.url + "/api/v1/targets", headers=_auth(keys["enterprise"]))
    assert unlimited.headers["x-ratelimit-used"] == "1" and "x-ratelimit-limit" not in unlimited.headers


def test_a_spent_quota_answers_429_json_with_retry_after(server, keys):
    with httpx.Client(base_url=server.url) as client:
        for _ in range(TIERS["free"].calls_per_day):
            assert client.get("/api/v1/targets", headers=_auth(keys["free"])).status_code == 200
        r = client.get("/api/v1/targets", headers=_auth(keys["free"]))
    assert r.status_code == 429 and r.json()["error"] == "quota_exceeded"
    assert 0 < int(r.headers["retry-after"]) <= 86400
    assert r.headers["x-ratelimit-remaining"] == "0"


def test_bad_requests_and_forbidden_tiers_are_not_charged(server, site, keys):
    with httpx.Client(base_url=server.url) as client:
        client.get("/api/v1/signals", headers=_auth(keys["free"]))  # 403
        client.get("/api/v1/latency/nope.example.com", headers=_auth(keys["free"]))  # 404
        client.get("/api/v1/latency/api.kraken.com/history?hours=-1", headers=_auth(keys["free"]))
    assert _stored_calls(site[2], keys["free"][:9]) == 0


def test_calls_survive_a_graceful_restart_and_a_kill(own_site):
    key = new_key(own_site[2], "free")
    used = 0
    for stop in ("term", "kill"):
        proc = ProxyProcess(*own_site).start()
        with httpx.Client(base_url=proc.url) as client:
            for _ in range(40):
                assert client.get("/api/v1/targets", headers=_auth(key)).status_code == 200
        used += 40
        if stop == "kill":  # no chance to flush: every answered call must already be stored
            proc.proc.kill()
            proc.proc.wait()
        proc.stop()  # after the kill, this only closes its stderr pipe
        assert _stored_calls(own_site[2], key[:9]) == used
    proc = ProxyProcess(*own_site).start()
    try:
        statuses = [httpx.get(proc.url + "/api/v1/targets", headers=_auth(key)).status_code
                    for _ in range(25)]
    finally:
        proc.stop()
    assert statuses.count(200) == 20 and statuses[20:] == [429] * 5


def test_the_quota_starts_again_at_utc_midnight(clocked, own_site):
    midnight = calendar.timegm((2026, 11, 27, 0, 0, 0))
    clocked.clock_file.write_text(str(midnight - 2))
    key = new_key(own_site[2], "free")
    with httpx.Client(base_url=clocked.url) as client:
        for _ in range(100):
            assert client.get("/api/v1/targets", headers=_auth(key)).status_code == 200
        spent = client.get("/api/v1/targets", headers=_auth(key))
        assert spent.status_code == 429
        assert spent.headers["retry-after"] == "2" and spent.headers["x-ratelimit-reset"] == str(midnight)
        clocked.clock_file.write_text(str(midnight + 1))
        fresh = client.get("/api/v1/targets", headers=_auth(key))
    assert fresh.status_code == 200 and fresh.headers["x-ratelimit-remaining"] == "99"
    conn = connect(own_site[2], readonly=True)
    days = conn.execute("SELECT day, calls FROM usage ORDER BY day").fetchall()
    assert days == [("2026-11-26", 100), ("2026-11-27", 1)]


def _cli(*args: str, db) -> str:
    env = {**os.environ, "NETTRACE_KEY_PEPPER": PEPPER, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "nettrace", "keys", *args, "--db", str(db)],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _refused_within(url: str, key: str, limit_s: float) -> httpx.Response:
    """The first answer after the key stopped working, polling for at most limit_s."""
    deadline = time.monotonic() + limit_s
    while (r := httpx.get(url, headers=_auth(key))).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    return r


def test_revoked_and_rotated_keys_stop_working_within_the_recheck_time(server, site):
    db = site[2]
    url = server.url + "/api/v1/signals"
    key = _cli("create", "--tier", "pro", "--owner", "carol", db=db)
    assert httpx.get(url, headers=_auth(key)).status_code == 200
    new = _cli("rotate", key[:9], db=db)
    t = time.monotonic()
    old = _refused_within(url, key, KEY_RECHECK_S + 1)
    assert time.monotonic() - t <= KEY_RECHECK_S + 0.5
    assert (old.status_code, old.json()["error"]) == (401, "revoked_key") and "rotated" in old.json()["detail"]
    assert httpx.get(url, headers=_auth(new)).status_code == 200
    _cli("revoke", new[:9], db=db)
    assert _refused_within(url, new, KEY_RECHECK_S + 1).json()["error"] == "revoked_key"
    listing = _cli("list", db=db)
    assert key[:9] in listing and new[:9] in listing and key not in listing and new not in listing
    assert "carol" in _cli("usage", "--key", new[:9], db=db)

"""Webhook deliveries from a real `nettrace serve` to real receiver processes on loopback:
signatures checked independently, retries, one delivery id per transition, disabling, and
nothing lost over a kill -9 of the proxy mid-queue."""
from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.conftest import free_port, wait_for
from tests.proxy.support import ROOT, ProxyProcess, new_key, write_site
from tests.proxy.webhook_support import (LOCAL_SERVER_ARGS, Sink, attempts,
                                         listing, open_signal, register, resolve_signal,
                                         signature_ok)

ROUND = 1_795_672_800  # 2026-11-26T06:00:00Z


@pytest.fixture
def hooks(webhook_server):
    """register(key, url, **filters) -> the 201 body; every webhook is removed afterwards, so
    one test's receivers never see another's transitions."""
    made: list[tuple[str, str]] = []

    def make(key: str, url: str, **fields) -> dict:
        r = register(webhook_server.url, key, url, **fields)
        assert r.status_code == 201, r.text
        made.append((key, r.json()["id"]))
        return r.json()
    yield make
    for key, hook_id in made:
        httpx.delete(f"{webhook_server.url}/api/v1/webhooks/{hook_id}",
                     headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def sinks(tmp_path):
    started: list[Sink] = []

    def make(*args: str) -> Sink:
        sink = Sink(tmp_path / f"sink-{len(started)}.jsonl", args).start()
        started.append(sink)
        return sink
    yield make
    for sink in started:
        sink.stop()


def _sid() -> str:
    return uuid.uuid4().hex[:12]


def _lines(proc: subprocess.Popen, count: int, timeout_s: float) -> list[str]:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    lines, deadline = [], time.monotonic() + timeout_s
    while len(lines) < count and sel.select(max(deadline - time.monotonic(), 0)):
        lines.append(proc.stdout.readline().strip())
    return lines


def test_a_transition_arrives_signed_and_the_readme_receiver_verifies_it(webhook_server, site,
                                                                          keys, hooks):
    port = free_port()
    hook = hooks(keys["pro"], f"http://127.0.0.1:{port}/")
    receiver = subprocess.Popen(
        [sys.executable, str(ROOT / "tools/webhook_receiver.py"), str(port)],
        env={**os.environ, "NETTRACE_WEBHOOK_SECRET": hook["secret"]}, stdout=subprocess.PIPE,
        text=True)
    try:
        wait_for(lambda: _connects(port), 10, "the README receiver to listen")
        seq = open_signal(site[2], _sid(), ROUND)
        lines = _lines(receiver, 2, 15)
        forged = httpx.post(f"http://127.0.0.1:{port}/", content=b'{"type":"opened"}', headers={
            "X-NetTrace-Signature": "t=1,v1=00", "X-NetTrace-Delivery": "forged"})
        rejected = _lines(receiver, 1, 5)
    finally:
        receiver.kill()
        receiver.wait()
    delivery = f"dlv_{hook['id'][3:]}_{seq}"
    assert sorted(lines) == sorted([f"verified dlv_{hook['id'][3:]}_0 ping",
                                    f"verified {delivery} opened"])
    assert forged.status_code == 401 and rejected == ["REJECTED forged opened"]


def _connects(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
        return True
    except httpx.TransportError:
        return False


def test_a_500_is_retried_with_the_same_id_and_body_until_it_is_taken(webhook_server, site, keys,
                                                                       hooks, sinks):
    sink = sinks("--plan", "500,500")
    hook = hooks(keys["pro"], sink.url)
    seq = open_signal(site[2], _sid(), ROUND)
    got = wait_for(lambda: len(sink.events()) >= 3 and sink.events(), 15, "three attempts")
    assert {r["headers"]["x-nettrace-delivery"] for r in got} == {f"dlv_{hook['id'][3:]}_{seq}"}
    assert len({r["body"] for r in got}) == 1
    assert all(signature_ok(hook["secret"], r["headers"], r["body"].encode()) for r in got)
    log = wait_for(lambda: [a for a in attempts(webhook_server.url, keys["pro"], hook["id"])
                            if a["delivery_id"].endswith(f"_{seq}")][:3], 10, "the attempts' log")
    assert [(a["attempt"], a["status"], a["outcome"]) for a in reversed(log)] == [
        (1, 500, "retrying"), (2, 500, "retrying"), (3, 204, "delivered")]
    assert all(a["latency_ms"] >= 0 for a in log) and log[-1]["error"] == "HTTP 500"
    time.sleep(0.8)  # a delivered transition is never sent again
    assert len(sink.events()) == 3


def test_a_receiver_that_does_not_answer_in_time_is_retried(webhook_server, site, keys, hooks,
                                                             sinks):
    sink = sinks("--plan", "hang")
    hook = hooks(keys["pro"], sink.url)
    seq = open_signal(site[2], _sid(), ROUND)
    wait_for(lambda: len(sink.events()) >= 2, 15, "a retry after the timeout")
    log = wait_for(lambda: [a for a in attempts(webhook_server.url, keys["pro"], hook["id"])
                            if a["delivery_id"].endswith(f"_{seq}")][:2], 10, "the attempts' log")
    first, second = reversed(log)
    assert (first["status"], first["outcome"]) == (None, "retrying")
    assert first["error"] == "no answer within 1 s" and first["latency_ms"] >= 990
    assert (second["status"], second["outcome"]) == (204, "delivered")


def test_each_transition_gets_exactly_one_delivery_id_per_webhook_in_order(webhook_server, site,
                                                                           keys, hooks, sinks):
    first, second = sinks(), sinks()
    hook_a = hooks(keys["pro"], first.url)
    hook_b = hooks(keys["enterprise"], second.url)
    seqs = []
    for i in range(6):
        sid = _sid()
        seqs.append(open_signal(site[2], sid, ROUND + i * 900))
        seqs.append(resolve_signal(site[2], sid, ROUND + i * 900 + 900))
    for sink, hook in ((first, hook_a), (second, hook_b)):
        got = wait_for(lambda: len(sink.events()) >= 12 and sink.events(), 20, "12 deliveries")
        ids = [r["headers"]["x-nettrace-delivery"] for r in got]
        assert ids == [f"dlv_{hook['id'][3:]}_{seq}" for seq in seqs]
        bodies = [json.loads(r["body"]) for r in got]
        assert [b["seq"] for b in bodies] == seqs
        assert [b["type"] for b in bodies] == ["opened", "resolved"] * 6
        assert all(b["delivery_id"] == i for b, i in zip(bodies, ids))
    time.sleep(0.5)
    assert len(first.events()) == len(second.events()) == 12


def test_a_webhook_is_disabled_after_50_consecutive_failures_and_its_listing_says_why(
        webhook_server, site, keys, hooks, sinks):
    sink = sinks("--then", "500")
    hook = hooks(keys["pro"], sink.url)
    for i in range(60):
        open_signal(site[2], _sid(), ROUND + i)
    state = wait_for(lambda: (w := listing(webhook_server.url, keys["pro"])[hook["id"]])["status"]
                     == "disabled" and w, 30, "the webhook to be disabled")
    assert state["consecutive_failures"] == 50 and state["queued"] == 0
    assert state["disabled_reason"].startswith("disabled after 50 consecutive failed deliveries")
    assert state["disabled_reason"].endswith("HTTP 500")
    log = attempts(webhook_server.url, keys["pro"], hook["id"])
    assert log[0]["outcome"] == "disabled" and sum(a["status"] == 500 for a in log) == 50
    time.sleep(1.0)
    assert len(sink.events()) == 50


def test_filters_choose_which_transitions_a_webhook_gets(webhook_server, site, keys, hooks, sinks):
    routes, binance, critical, off_session, crypto = (sinks() for _ in range(5))
    hooks(keys["pro"], routes.url, types=["route_change"])
    hooks(keys["pro"], binance.url, targets=["api.binance.com"])
    hooks(keys["pro"], critical.url, min_severity="critical")
    hooks(keys["pro"], off_session.url, in_session=False)
    hooks(keys["pro"], crypto.url, categories=["Crypto Exchanges"])
    events = {"route": dict(type="route_change"), "binance": dict(target="api.binance.com"),
              "crit": dict(severity="critical", target="www.nyse.com"),
              "off": dict(in_session=0, target="www.nyse.com", severity="info")}
    for name, fields in events.items():
        open_signal(site[2], f"{name}-{_sid()}", ROUND, **fields)
    sentinel = open_signal(site[2], f"all-{_sid()}", ROUND, type="route_change",
                           target="api.binance.com", severity="critical", in_session=0)
    for sink in (routes, binance, critical, off_session, crypto):
        wait_for(lambda: any(json.loads(r["body"])["seq"] == sentinel for r in sink.events()),
                 15, "the transition every filter passes")

    def names(sink):
        return sorted(json.loads(r["body"])["signal"]["id"].split("-")[0] for r in sink.events())
    assert names(routes) == ["all", "route"]
    assert names(binance) == ["all", "binance"]
    assert names(critical) == ["all", "crit"]
    assert names(off_session) == ["all", "off"]
    assert names(crypto) == ["all", "binance", "route"]


def test_slack_and_discord_get_their_own_body_shapes_signed_alike(webhook_server, site, keys,
                                                                  hooks, sinks):
    slack, discord = sinks(), sinks()
    slack_hook = hooks(keys["pro"], slack.url, format="slack")
    discord_hook = hooks(keys["pro"], discord.url, format="discord")
    open_signal(site[2], _sid(), ROUND, description="<!channel> @everyone & co")
    (s,) = wait_for(lambda: slack.events(), 15, "the slack delivery")
    (d,) = wait_for(lambda: discord.events(), 15, "the discord delivery")
    assert signature_ok(slack_hook["secret"], s["headers"], s["body"].encode())
    assert signature_ok(discord_hook["secret"], d["headers"], d["body"].encode())
    text = json.loads(s["body"])["text"]
    assert "&lt;!channel&gt; @everyone &amp; co" in text and "<" not in text
    doc = json.loads(d["body"])
    assert "<!channel> @everyone & co" in doc["content"]
    assert doc["allowed_mentions"] == {"parse": []}


def test_a_removed_webhook_gets_nothing_more(webhook_server, site, keys, hooks, sinks):
    sink = sinks()
    hook = hooks(keys["pro"], sink.url)
    wait_for(lambda: sink.received(), 10, "the ping")
    auth = {"Authorization": f"Bearer {keys['pro']}"}
    gone = httpx.delete(f"{webhook_server.url}/api/v1/webhooks/{hook['id']}", headers=auth)
    open_signal(site[2], _sid(), ROUND)
    time.sleep(1.5)
    assert gone.status_code == 204 and sink.events() == []
    assert hook["id"] not in listing(webhook_server.url, keys["pro"])
    again = httpx.get(f"{webhook_server.url}/api/v1/webhooks/{hook['id']}/deliveries", headers=auth)
    assert (again.status_code, again.json()["error"]) == (404, "unknown_webhook")


def test_nothing_is_lost_when_the_proxy_is_killed_mid_queue(tmp_path, sinks):
    public, private = write_site(tmp_path)
    db = tmp_path / "central.sqlite"
    proxy = ProxyProcess(public, private, db, args=LOCAL_SERVER_ARGS).start()
    key = new_key(db, "pro")
    sink = sinks("--delay", "0.1")
    try:
        hook = register(proxy.url, key, sink.url).json()
        seqs = [open_signal(db, _sid(), ROUND + i) for i in range(15)]
        wait_for(lambda: len(sink.events()) >= 3, 20, "the queue to be under way")
        os.kill(proxy.proc.pid, signal.SIGKILL)
        proxy.proc.wait()
        taken = len(sink.events())
        seqs += [open_signal(db, _sid(), ROUND + 100 + i) for i in range(5)]
        proxy.stop()
        proxy = ProxyProcess(public, private, db, args=LOCAL_SERVER_ARGS).start()
        wanted = {f"dlv_{hook['id'][3:]}_{seq}" for seq in seqs}
        got = wait_for(lambda: wanted <= {r["headers"]["x-nettrace-delivery"]
                                          for r in sink.events()} and sink.events(),
                       30, "every transition after the restart")
    finally:
        proxy.stop()
    ids = [r["headers"]["x-nettrace-delivery"] for r in got]
    assert 3 <= taken < 20 and set(ids) == wanted
    before, after = ids[:taken], ids[taken:]
    assert len(set(before)) == len(before) and len(set(after)) == len(after)
    # Sent again: only what was in flight or answered but not yet recorded at the kill, so the
    # last ones before it (how many depends on the disk's fsync), never an early one
    resent = set(before) & set(after)
    assert len(resent) < taken and resent == set(before[taken - len(resent):]), (before, after)
    assert all(signature_ok(hook["secret"], r["headers"], r["body"].encode()) for r in got)


def test_a_delivery_still_failing_24_hours_after_it_was_queued_is_given_up(tmp_path, sinks):
    public, private = write_site(tmp_path)
    db = tmp_path / "central.sqlite"
    clock = tmp_path / "clock"
    clock.write_text(str(ROUND))
    proxy = ProxyProcess(public, private, db, clock_file=clock, args=LOCAL_SERVER_ARGS).start()
    sink = sinks("--then", "500")
    try:
        key = new_key(db, "pro")
        hook = register(proxy.url, key, sink.url).json()
        open_signal(db, _sid(), ROUND)
        wait_for(lambda: sink.events(), 10, "the first attempt")
        clock.write_text(str(ROUND + 24 * 3600 + 1))
        log = wait_for(lambda: [a for a in attempts(proxy.url, key, hook["id"])
                                if a["outcome"] == "gave_up"], 15, "the delivery given up")
        tried = len(sink.events())
        time.sleep(1.0)
        state = listing(proxy.url, key)[hook["id"]]
    finally:
        proxy.stop()
    assert len(log) == 1 and log[0]["status"] == 500
    assert len(sink.events()) == tried and state["queued"] == 0 and state["status"] == "active"


def test_a_malformed_stored_event_is_still_delivered_and_stops_nothing(webhook_server, site, keys,
                                                                        hooks, sinks):
    sink = sinks()
    hooks(keys["pro"], sink.url, format="slack")
    open_signal(site[2], "bad-" + _sid(), ROUND, regions="not json", description="\x00\x1b[31m")
    fine = open_signal(site[2], _sid(), ROUND)
    got = wait_for(lambda: len(sink.events()) >= 2 and sink.events(), 15, "both deliveries")
    assert "not json" in json.loads(got[0]["body"])["text"]
    assert f"_{fine}" in got[1]["headers"]["x-nettrace-delivery"]

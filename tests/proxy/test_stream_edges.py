"""The WebSocket stream's edges: a revoked or downgraded key is closed within a second, a key
holds at most MAX_STREAMS_PER_KEY streams, a browser offers its key as a subprotocol (never in
the URL), and signal openings and resolutions arrive beside the rounds."""
from __future__ import annotations

import json
import time
from contextlib import ExitStack, contextmanager

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from collect.records import Measurement, ProbeResult, round_slot
from db.connection import connect
from ingest.store import store_batch
from proxy.keys import revoke_key
from proxy.limits import MAX_STREAMS_PER_KEY
from tests.proxy.support import new_key

CLOSE_POLICY = 1008


@contextmanager
def open_stream(server, key: str | None = None, subprotocols=None, query: str = ""):
    """A subscribed stream: after its `subscribed` message."""
    url = server.url.replace("http", "ws") + "/api/v1/stream" + query
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with ws_connect(url, additional_headers=headers, subprotocols=subprotocols, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
        yield ws


def refused(server, **kwargs) -> tuple[int, dict]:
    with pytest.raises(InvalidStatus) as err, open_stream(server, **kwargs):
        pass
    return err.value.response.status_code, json.loads(err.value.response.body)


def closed_within(ws, limit_s: float) -> tuple[float, int]:
    """(seconds until the server closed ws, its close code); fails if it stays open limit_s."""
    t = time.monotonic()
    with pytest.raises(ConnectionClosed) as err:
        while True:
            ws.recv(timeout=limit_s)
    return time.monotonic() - t, err.value.rcvd.code


def store_round(db, region: str, hosts: tuple[str, ...]) -> int:
    round_ts = round_slot(time.time())
    conn = connect(db)
    store_batch(conn, [ProbeResult(h, region, "icmp", round_ts, round_ts + 2.0,
                                   Measurement(samples_ms=(10.0,))).to_json() for h in hosts])
    conn.close()
    return round_ts


@pytest.mark.parametrize("change, region", [("revoke", "lhr"), ("downgrade", "ord")])
def test_revoking_or_downgrading_a_key_closes_its_streams_within_a_second(server, site, keys, change,
                                                                          region):
    with open_stream(server, keys["enterprise"]) as ws, \
            open_stream(server, new_key(site[2], "enterprise")) as bystander:
        conn = connect(site[2])
        if change == "revoke":
            revoke_key(conn, keys["enterprise"][:9], time.time())
        else:
            conn.execute("UPDATE api_keys SET tier = 'pro' WHERE prefix = ?", (keys["enterprise"][:9],))
        conn.close()
        took_s, code = closed_within(ws, 3)
        assert took_s <= 1.0 and code == CLOSE_POLICY
        store_round(site[2], region, ("api.kraken.com",))  # another key's stream goes on
        assert json.loads(bystander.recv(timeout=10))["type"] == "round"


def test_a_key_holds_at_most_its_stream_slots_and_gets_one_back_on_close(server, keys):
    key = keys["enterprise"]
    with ExitStack() as streams:
        held = [streams.enter_context(open_stream(server, key)) for _ in range(MAX_STREAMS_PER_KEY)]
        status, body = refused(server, key=key)
        assert status == 429 and body["error"] == "too_many_streams"
        held[0].close()
        deadline = time.monotonic() + 2
        while True:
            try:
                streams.enter_context(open_stream(server, key))
                break
            except InvalidStatus:
                assert time.monotonic() < deadline, "the closed stream's slot never came back"
                time.sleep(0.05)


def test_a_browser_offers_its_key_as_a_subprotocol_and_gets_nettrace_selected(server, keys):
    with open_stream(server, subprotocols=["nettrace", keys["enterprise"]]) as ws:
        assert ws.subprotocol == "nettrace"


def test_a_key_offered_without_the_nettrace_subprotocol_is_refused(server, keys):
    status, body = refused(server, subprotocols=[keys["enterprise"]])
    assert status == 401 and body["error"] == "malformed_key" and "nettrace" in body["detail"]


@pytest.mark.parametrize("name", ["key", "api_key", "token", "access_token", "authorization"])
def test_a_key_in_the_url_is_never_accepted(server, keys, name):
    status, body = refused(server, query=f"?{name}={keys['enterprise']}")
    assert (status, body["error"]) == (401, "missing_key")


def _transition(db, signal_id: str, kind: str, round_ts: int) -> None:
    conn = connect(db)
    if kind == "opened":
        conn.execute(
            "INSERT INTO signals (id, type, target, region, probe, scope, regions, started_at, "
            "status, before_ms, during_ms, peak_z, severity, in_session, description, detail, "
            "updated_at) VALUES (?, 'level_shift', 'api.kraken.com', 'fra', 'tcp', 'global', "
            "'[\"fra\",\"ewr\"]', ?, 'open', 12.5, 40.0, 6.2, 'warning', 1, 'Kraken +27.5 ms', "
            "'{\"hops\":[1,2]}', ?)", (signal_id, round_ts, round_ts))
    else:
        conn.execute("UPDATE signals SET status = 'resolved', ended_at = ?, updated_at = ? "
                     "WHERE id = ?", (round_ts, round_ts, signal_id))
    conn.execute("INSERT INTO signal_transitions (signal_id, kind, round_ts) VALUES (?, ?, ?)",
                 (signal_id, kind, round_ts))
    conn.close()


def test_signal_openings_and_resolutions_arrive_beside_the_rounds(server, site, keys):
    with open_stream(server, keys["enterprise"]) as ws:
        round_ts = store_round(site[2], "ewr", ("api.binance.com",))
        _transition(site[2], "sig-1", "opened", round_ts)
        first, second = (json.loads(ws.recv(timeout=10)) for _ in range(2))
        _transition(site[2], "sig-1", "resolved", round_ts + 900)
        resolved = json.loads(ws.recv(timeout=10))
    assert first["type"] == "round" and first["round_ts"] == round_ts
    assert second["type"] == "opened" and second["round_ts"] == round_ts
    assert second["signal"] == {
        "id": "sig-1", "type": "level_shift", "target": "api.kraken.com", "region": "fra",
        "probe": "tcp", "scope": "global", "regions": ["fra", "ewr"], "started_at": round_ts,
        "ended_at": None, "status": "open", "before_ms": 12.5, "during_ms": 40.0, "peak_z": 6.2,
        "severity": "warning", "in_session": True, "description": "Kraken +27.5 ms",
        "detail": {"hops": [1, 2]}, "updated_at": round_ts}
    assert resolved["type"] == "resolved" and resolved["seq"] == second["seq"] + 1
    assert resolved["signal"]["status"] == "resolved" and resolved["signal"]["ended_at"] == round_ts + 900

"""Bulk export streamed from SQLite (flat memory on a million rows) and the WebSocket stream
receiving the next round stored by the ingest writer."""
from __future__ import annotations

import csv
import io
import json
import time

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from db.connection import connect
from collect.records import ROUND_S, Measurement, ProbeResult, round_slot
from ingest.store import store_batch
from ingest.validate import validate_record
from tests.factories import make_db
from tests.proxy.support import ProxyProcess, fill_results, new_key, write_site

MILLION = 1_000_000
MAX_RSS_GROWTH_KIB = 40 * 1024


def test_export_of_a_million_rows_streams_with_flat_memory(tmp_path):
    public, private = write_site(tmp_path)
    db = tmp_path / "big.sqlite"
    end = round_slot(time.time())
    fill_results(db, MILLION, end)
    key = new_key(db, "enterprise")
    proc = ProxyProcess(public, private, db).start()
    try:
        auth = {"Authorization": f"Bearer {key}"}
        window = {"from": str(end - 20 * 86400), "to": str(end + ROUND_S), "format": "csv"}
        httpx.get(proc.url + "/api/v1/export", params={**window, "from": str(end)}, headers=auth)
        baseline = peak = proc.rss_kib()
        lines = size = 0
        with httpx.stream("GET", proc.url + "/api/v1/export", params=window, headers=auth,
                          timeout=120) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
            for chunk in r.iter_raw(1 << 20):
                lines += chunk.count(b"\n")
                size += len(chunk)
                peak = max(peak, proc.rss_kib())
    finally:
        proc.stop()
    assert lines == MILLION + 1  # the header line
    assert size > 100 * 1024 * 1024
    assert peak - baseline < MAX_RSS_GROWTH_KIB, f"server RSS grew {peak - baseline} KiB"


def test_export_jsonl_round_trips_through_the_ingest_validator(tmp_path):
    fixture = make_db(tmp_path)
    public, private = write_site(tmp_path)
    key = new_key(fixture.path, "enterprise")
    clock = tmp_path / "clock"
    clock.write_text(str(fixture.round_ts))  # the fixture's fixed dates stay inside 90 days
    proc = ProxyProcess(public, private, fixture.path, clock_file=clock).start()
    try:
        end = fixture.round_ts
        params = {"from": str(end - 86400), "to": str(end + ROUND_S)}
        r = httpx.get(proc.url + "/api/v1/export", params={**params, "format": "jsonl"},
                      headers={"Authorization": f"Bearer {key}"})
        c = httpx.get(proc.url + "/api/v1/export", params={**params, "format": "csv"},
                      headers={"Authorization": f"Bearer {key}"})
    finally:
        proc.stop()
    records = [json.loads(line) for line in r.text.splitlines()]
    conn = connect(fixture.path, readonly=True)
    assert len(records) == conn.execute("SELECT count(*) FROM results").fetchone()[0] > 0
    for record in records:
        validate_record(record, None)  # the export is the wire format the ingest accepts
    assert {rec["probe"] for rec in records} == set(fixture.spec.probes)
    rows = list(csv.DictReader(io.StringIO(c.text)))
    assert [row["id"] for row in rows] == [rec["id"] for rec in records]
    assert "attachment" in r.headers["content-disposition"]


def _round(region: str, round_ts: int, hosts: tuple[str, ...]) -> list[dict]:
    return [ProbeResult(h, region, "icmp", round_ts, round_ts + 2.0,
                        Measurement(samples_ms=(10.0, 11.5, None))).to_json() for h in hosts]


def test_a_websocket_client_receives_the_next_ingested_round(server, site, keys):
    url = server.url.replace("http", "ws") + "/api/v1/stream"
    with ws_connect(url, additional_headers={"Authorization": f"Bearer {keys['enterprise']}"},
                    open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello["type"] == "subscribed"
        round_ts = round_slot(time.time())
        records = _round("fra", round_ts, ("api.kraken.com", "api.binance.com"))
        conn = connect(site[2])
        store_batch(conn, records)
        conn.close()
        message = json.loads(ws.recv(timeout=10))
    assert message["type"] == "round" and message["region"] == "fra"
    assert message["round_ts"] == round_ts
    assert sorted(r["id"] for r in message["results"]) == sorted(r["id"] for r in records)
    assert message["results"][0]["samples_ms"] == [10.0, 11.5, None]


@pytest.mark.parametrize("tier, status", [(None, 401), ("free", 403), ("pro", 403)])
def test_the_stream_refuses_keys_below_enterprise(server, keys, tier, status):
    url = server.url.replace("http", "ws") + "/api/v1/stream"
    headers = {"Authorization": f"Bearer {keys[tier]}"} if tier else {}
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(url, additional_headers=headers, open_timeout=10)
    assert refused.value.response.status_code == status
    assert json.loads(refused.value.response.body)["error"] in ("missing_key", "tier_required")

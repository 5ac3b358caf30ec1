"""Malformed, forged, replayed, oversized, wrong-type, far-future and unicode-hostile batches
against the real server: each gets the right status and leaves the stored content unchanged."""
from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from collect.signing import sign
from tests.ingest.ingest_fixtures import body_of, content_dump, push, results, running, secret

MAX_BODY = 300_000
SEEDED = results("ewr", targets=2)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("bad") / "central.db"
    with running(db, "--max-body-bytes", str(MAX_BODY), "--body-timeout", "1") as s:
        assert push(s.push_url, body_of(SEEDED)).status_code == 200
        s.db = db
        yield s


def record(probe: str = "icmp", **changes) -> dict:
    rec = results("ewr", targets=1, probes=(probe,))[0]
    rec.update(changes)
    return rec


def without(key: str) -> dict:
    rec = record()
    del rec[key]
    return rec


def raw(body: bytes, region: str = "ewr") -> Callable:
    return lambda s: push(s.push_url, body, region)


def batch(*records: dict) -> Callable:
    return raw(body_of(list(records)))


def headers_only(url: str, headers: dict) -> httpx.Response:
    return httpx.post(url, content=body_of([record()]), headers=headers, timeout=10)


def far_future() -> dict:
    later = time.time() + 86_400
    return results("ewr", round_ts=int(later // 900 * 900), targets=1, probes=("icmp",))[0]


def chunked(s) -> httpx.Response:
    body = body_of([record(error="x" * 400)] * 800)
    signed = sign(secret("ewr"), "ewr", int(time.time()), body)
    return httpx.post(s.push_url, content=iter([body[i:i + 8192] for i in range(0, len(body), 8192)]),
                      headers=signed, timeout=10)


def signed_then_tampered(s) -> httpx.Response:
    body = body_of([record()])
    signed = sign(secret("ewr"), "ewr", int(time.time()), body)
    return httpx.post(s.push_url, content=body.replace(b"12.5", b"1.25"), headers=signed, timeout=10)


def slow_body(s) -> httpx.Response:
    body = body_of([record()])
    url = urlsplit(s.push_url)
    signed = sign(secret("ewr"), "ewr", int(time.time()), body)
    head = "".join(f"{k}: {v}\r\n" for k, v in signed.items())
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(f"POST {url.path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                     f"{head}\r\n".encode() + body[:10])
        deadline = time.monotonic() + 5
        sock.settimeout(0.2)
        reply = b""
        for byte in body[10:]:
            try:
                reply += sock.recv(4096)
            except TimeoutError:
                sock.sendall(bytes([byte]))
            if reply or time.monotonic() > deadline:
                break
    status = int(reply.split(b" ", 2)[1]) if reply else 0
    return httpx.Response(status, content=reply.partition(b"\r\n\r\n")[2])


CASES: dict[str, tuple[Callable, int, str | None]] = {
    # name: (send(server) -> response, status, path the error must name)
    "truncated json": (raw(body_of([record()])[:-7]), 400, None),
    "empty body": (raw(b""), 400, None),
    "latin-1 bytes": (raw('{"results": ["café"]}'.encode("latin-1")), 400, None),
    "utf-16 json": (raw(body_of([record()]).decode().encode("utf-16")), 400, None),
    "NaN rtt": (raw(body_of([record()]).replace(b'"rtt_ms": 12.875', b'"rtt_ms": NaN')), 400, None),
    "Infinity sample": (raw(body_of([record()]).replace(b"[12.5,", b"[Infinity,")), 400, None),
    "1e400 overflows to inf": (raw(body_of([record()]).replace(b'"loss": 0.3333', b'"loss": 1e400')),
                               400, "results[0].loss"),
    "deeply nested": (raw(b'{"results": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), 400, None),
    "batch is a list": (raw(json.dumps([record()]).encode()), 400, "$"),
    "empty results": (batch(), 400, "$.results"),
    "unknown top-level key": (raw(json.dumps({"results": [record()], "x": 1}).encode()), 400, "$.x"),
    "missing loss": (batch(without("loss")), 400, "results[0].loss"),
    "rtt as string": (batch(record(rtt_ms="12")), 400, "results[0].rtt_ms"),
    "ok as integer": (batch(record(ok=1)), 400, "results[0].ok"),
    "loss above one": (batch(record(loss=1.5)), 400, "results[0].loss"),
    "negative rtt": (batch(record(min_ms=-1.0)), 400, "results[0].min_ms"),
    "schema 2": (batch(record(schema=2)), 400, "results[0].schema"),
    "unknown probe": (batch(record(probe="udp")), 400, "results[0].probe"),
    "id does not match": (batch(record(id="ewr/x/y/icmp")), 400, "results[0].id"),
    "far-future round": (batch(far_future()), 400, "results[0].round_id"),
    "ts before 2020": (batch(record(ts="1999-12-31T23:59:59Z")), 400, "results[0].ts"),
    "round id with millis": (batch(record(round_id="2026-11-25T10:00:00.500Z")), 400, "results[0].round_id"),
    "date with a space": (batch(record(ts="2026-11-25 10:00:00")), 400, "results[0].ts"),
    "impossible date": (batch(record(ts="2026-02-30T10:00:00Z")), 400, "results[0].ts"),
    "non-ascii hostname": (batch(record(target="exämple.com")), 400, "results[0].target"),
    "zero-width in hostname": (batch(record(target="a\u200bb.com")), 400, "results[0].target"),
    "bidi override in error": (batch(record(error="\u202etuoemit")), 400, "results[0].error"),
    "lone surrogate in error": (raw(body_of([record()]).replace(b'"error": null', b'"error": "\\ud800"')),
                                400, "results[0].error"),
    "NUL in error": (batch(record(error="a\u0000b")), 400, "results[0].error"),
    "unknown record field": (batch(record(extra=1)), 400, "results[0].'extra'"),
    "region not the signed one": (batch(record(region="ord", id=record()["id"].replace("ewr", "ord", 1))),
                                  400, "results[0].region"),
    "too many samples": (batch(record(samples_ms=[1.0] * 1001)), 400, "results[0].samples_ms"),
    "sample as string": (batch(record(samples_ms=[1.0, "2"])), 400, "results[0].samples_ms[1]"),
    "hop with ttl 0": (batch(record(hops=[{"ttl": 0, "address": "*", "rtt_ms": None}])), 400,
                       "results[0].hops[0].ttl"),
    "good then bad": (batch(record(), record("tcp", loss=-0.1)), 400, "results[1].loss"),
    "forged signature": (lambda s: push(s.push_url, body_of([record()]), key=b"not-the-secret-at-all"), 401, None),
    "missing signature": (lambda s: headers_only(s.push_url, {"X-NetTrace-Region": "ewr",
                                                              "X-NetTrace-Timestamp": str(int(time.time()))}), 401, None),
    "no headers at all": (lambda s: headers_only(s.push_url, {}), 401, None),
    "unknown region": (lambda s: push(s.push_url, body_of([record()]), "xyz", key=secret("ewr")), 401, None),
    "old timestamp (replay)": (lambda s: push(s.push_url, body_of([record()]), ts=time.time() - 600), 401, None),
    "future timestamp": (lambda s: push(s.push_url, body_of([record()]), ts=time.time() + 600), 401, None),
    "timestamp not a number": (lambda s: push(s.push_url, body_of([record()]),
                                              headers={"X-NetTrace-Timestamp": "soon"}), 401, None),
    "body tampered after signing": (signed_then_tampered, 401, None),
    "oversized body": (raw(body_of([record(error="x" * 400)] * 800)), 413, None),
    "oversized chunked body": (chunked, 413, None),
    "slow body": (slow_body, 408, None),
    "replayed stored batch": (raw(body_of(SEEDED)), 200, None),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_batch_gets_its_status_and_changes_nothing(server, name):
    send, status, path = CASES[name]
    before = content_dump(server.db)
    resp = send(server)
    assert resp.status_code == status, resp.text
    if status != 200:
        assert set(resp.json()) >= {"error", "detail"}
    else:
        assert resp.json() == {"stored": 0, "duplicates": len(SEEDED), "durable": True}
    if path is not None:
        assert resp.json()["path"] == path
    assert content_dump(server.db) == before
    assert server.proc.poll() is None


def test_there_are_at_least_25_distinct_bad_inputs():
    assert len(CASES) >= 25

"""Benchmark of webhook delivery: 1,000 webhooks on a real `nettrace serve`, one round's signal
transitions stored at once (as a build stores them), fanned out to every webhook and delivered
to a local receiver (uvicorn) that stamps each arrival. Real time, not compressed.

Prints how long the backlog takes to drain (bar: within one 15-minute round), the latency from
the transitions' commit to each delivery's arrival (p50/p99/max), the proxy's keyed GET latency
while it drains and, as ceilings, the same number of POSTs to the same receiver from bare httpx
(64 clients each with one request in flight, as the worker does, and one shared pool of 64,
which the worker avoids) and from wrk (the receiver's own limit). The data is synthetic.

    .venv/bin/python bench/webhooks.py [--webhooks 1000] [--transitions 20]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from db.connection import connect, transaction  # noqa: E402
from proxy.delivery import DeliveryPolicy  # noqa: E402
from proxy.keys import create_key  # noqa: E402
from tests.conftest import free_port  # noqa: E402

ROUND_S = 900
PEPPER = "bench-pepper-not-a-secret-0123456789"
HOOKS_PER_KEY = 10
ROUND_TS = 1_795_672_800


async def receiver_app(scope, receive, send):
    """ASGI: stamp each POST's X-NetTrace-Delivery with its arrival; GET /count, GET /dump."""
    headers = dict(scope["headers"])
    if scope["method"] == "POST":
        while (await receive()).get("more_body"):
            pass
        ARRIVALS.append((headers.get(b"x-nettrace-delivery", b"").decode(),
                         headers.get(b"x-nettrace-event", b"").decode(), time.time()))
        body, status = b"", 204
    elif scope["path"] == "/count":
        body, status = str(len(ARRIVALS)).encode(), 200
    else:
        body, status = json.dumps(ARRIVALS).encode(), 200
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


ARRIVALS: list[tuple[str, str, float]] = []


def run_receiver(port: int) -> None:
    import uvicorn
    uvicorn.run(receiver_app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                log_level="warning", access_log=False, lifespan="off")


def write_site(tmp: Path) -> tuple[Path, Path]:
    public, private = tmp / "public", tmp / "private"
    (public / "api/v1").mkdir(parents=True)
    private.mkdir()
    doc = {"schema": "nettrace.targets/1", "generated_at": "2026-11-26T06:00:00Z",
           "synthetic": True, "categories": [],
           "targets": [{"host": f"api{i}.example-exchange.com"} for i in range(120)]}
    (public / "api/v1/targets.json").write_text(json.dumps(doc))
    return public, private


def store_round(db: Path, transitions: int) -> float:
    """Open `transitions` events in one transaction, as a build does; unix s of the commit."""
    conn = connect(db)
    with transaction(conn):
        for i in range(transitions):
            conn.execute(
                "INSERT INTO signals (id, type, target, region, probe, scope, regions, started_at, "
                "status, before_ms, during_ms, peak_z, severity, in_session, description, "
                "updated_at) VALUES (?, 'level_shift', ?, 'fra', 'icmp', 'global', "
                "'[\"fra\",\"ewr\",\"sin\",\"nrt\"]', ?, 'open', 12.5, 40.1, 6.2, 'warning', 1, "
                "?, ?)", (f"bench-{i}", f"api{i}.example-exchange.com", ROUND_TS,
                          f"api{i}.example-exchange.com +27.6 ms from 4 regions", ROUND_TS))
            conn.execute("INSERT INTO signal_transitions (signal_id, kind, round_ts) "
                         "VALUES (?, 'opened', ?)", (f"bench-{i}", ROUND_TS))
    committed = time.time()
    conn.close()
    return committed


def wait_count(base: str, n: int, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while int(httpx.get(base + "/count").text) < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"the receiver got {httpx.get(base + '/count').text} of {n}")
        time.sleep(0.05)
    return time.time()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def keyed_gets(url: str, key: str, stop: asyncio.Event) -> list[float]:
    """Latencies (ms) of keyed GETs, one at a time, until stop is set."""
    out = []
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as client:
        while not stop.is_set():
            started = time.perf_counter()
            await client.get(url)
            out.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.02)
    return out


async def ceiling(url: str, count: int, concurrency: int, shared: bool) -> float:
    """Seconds bare httpx takes to POST count bodies, concurrency at a time: from one shared
    client (pool) or from one client per worker."""
    body = b'{"type":"opened","signal":{"id":"x"}}' * 12
    left = iter(range(count))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    clients = [httpx.AsyncClient(limits=limits) for _ in range(1 if shared else concurrency)]

    async def worker(client):
        for i in left:
            await client.post(url, content=body, headers={"x-nettrace-delivery": f"ceil-{i}"})
    started = time.perf_counter()
    await asyncio.gather(*(worker(clients[0 if shared else k]) for k in range(concurrency)))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.aclose()
    return elapsed


def wrk_rps(url: str, connections: int) -> float | None:
    """wrk's POSTs per second against the receiver, or None without wrk."""
    if shutil.which("wrk") is None:
        return None
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text('wrk.method = "POST"\nwrk.body = string.rep("x", 500)\n')
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", "-d5s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--transitions", type=int, default=20)
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver(args.receiver)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="nettrace-bench-webhooks-"))
    public, private = write_site(tmp)
    db = tmp / "central.sqlite"
    conn = connect(db)
    keys = [create_key(conn, "pro", f"bench{i}", PEPPER.encode(), time.time())
            for i in range(-(-args.webhooks // HOOKS_PER_KEY))]
    conn.close()
    rport, pport = free_port(), free_port()
    recv_base, proxy_base = f"http://127.0.0.1:{rport}", f"http://127.0.0.1:{pport}"
    env = {**os.environ, "NETTRACE_KEY_PEPPER": PEPPER, "PYTHONPATH": str(ROOT)}
    receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(rport)], env=env)
    proxy = subprocess.Popen([sys.executable, "-m", "nettrace", "serve", "--public", str(public),
                              "--private", str(private), "--db", str(db), "--listen",
                              f"127.0.0.1:{pport}", "--webhook-allow-local"], cwd=ROOT, env=env)
    try:
        for base in (recv_base, proxy_base):
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(base + "/count" if base == recv_base else base + "/api/v1/openapi.json")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        with httpx.Client(base_url=proxy_base, timeout=30) as client:
            for i in range(args.webhooks):
                r = client.post("/api/v1/webhooks", json={"url": f"{recv_base}/hook/{i}"},
                                headers={"Authorization": f"Bearer {keys[i // HOOKS_PER_KEY]}"})
                assert r.status_code == 201, r.text
        wait_count(recv_base, args.webhooks, 300)  # every registration's ping first
        load_before = os.getloadavg()[0]
        expected = args.webhooks * (args.transitions + 1)

        async def drain() -> tuple[float, float, list[float]]:
            stop = asyncio.Event()
            gets = asyncio.create_task(keyed_gets(proxy_base + "/api/v1/targets", keys[0], stop))
            committed = store_round(db, args.transitions)
            done = await asyncio.to_thread(wait_count, recv_base, expected, 900)
            stop.set()
            return committed, done, await gets
        committed, done, get_ms = asyncio.run(drain())
        arrivals = [at for _, event, at in json.loads(httpx.get(recv_base + "/dump").text)
                    if event == "opened"]
        lat_ms = [(at - committed) * 1000 for at in arrivals]
        lanes = DeliveryPolicy().max_in_flight
        own_s = asyncio.run(ceiling(f"{recv_base}/ceiling", len(arrivals), lanes, False))
        shared_s = asyncio.run(ceiling(f"{recv_base}/ceiling", len(arrivals), lanes, True))
        wrk = wrk_rps(f"{recv_base}/ceiling", lanes)
    finally:
        for proc in (proxy, receiver):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    drain_s = done - committed
    n = len(arrivals)
    print(f"\n| webhooks: {args.webhooks}, transitions in one round: {args.transitions}, "
          f"deliveries: {n:,} | value | bar |")
    print("| --- | --- | --- |")
    print(f"| backlog drained after the round's commit | {drain_s:.1f} s | <= {ROUND_S} s: "
          f"{'pass' if drain_s <= ROUND_S else 'FAIL'} |")
    print(f"| deliveries per second | {n / drain_s:,.0f} | |")
    print(f"| event opening (commit) to delivery, p50 / p99 / max | {percentile(lat_ms, 0.5):,.0f}"
          f" / {percentile(lat_ms, 0.99):,.0f} / {max(lat_ms):,.0f} ms | |")
    print(f"| keyed GET /api/v1/targets while draining, p50 / p99 ({len(get_ms)} calls) | "
          f"{percentile(get_ms, 0.5):.1f} / {percentile(get_ms, 0.99):.1f} ms | |")
    print(f"| ceiling: bare httpx, the same {n:,} POSTs, {lanes} clients of one request each | "
          f"{own_s:.1f} s ({n / own_s:,.0f}/s) | |")
    print(f"| bare httpx, one shared pool of {lanes} connections | "
          f"{shared_s:.1f} s ({n / shared_s:,.0f}/s) | |")
    if wrk is not None:
        print(f"| wrk -c{lanes} against the receiver (its own limit) | {wrk:,.0f}/s | |")
    print(f"| machine load average (1 min) before / after | {load_before:.1f} / "
          f"{os.getloadavg()[0]:.1f} | |")
    return 0 if n == args.webhooks * args.transitions and drain_s <= ROUND_S else 1


if __name__ == "__main__":
    sys.exit(main())

"""Ingest benchmark: N results pushed over HTTP by 7 concurrent simulated regions in signed
batches of 700 to a real `nettrace ingest serve`, against a raw executemany ceiling, and what
durability costs when the fsync sits inside each commit (synchronous=FULL) rather than in the
writer's WAL-sync thread (ingest/wal_sync.py), as ingest does it.

    .venv/bin/python bench/ingest.py              # the issue's 1,000,000 results
    .venv/bin/python bench/ingest.py --results 100000
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from db import connection as db  # noqa: E402
from collect.records import PROBES, Measurement, ProbeResult, round_slot  # noqa: E402
from collect.signing import sign  # noqa: E402
from ingest.store import _INSERT  # noqa: E402
from collect.records import COLUMNS  # noqa: E402
from ingest.validate import validate_record  # noqa: E402
from tests.ingest.ingest_fixtures import REGIONS, running, secret  # noqa: E402

TARGETS = 100
ROUND_S = 900
BARS = {"results_per_s": 30_000, "ceiling_ratio": 0.15}


def region_records(region: str, count: int, seed: int) -> list[dict]:
    """count results of region: 100 targets x 6 probes per round, rounds in time order
    ending at the last slot, as collectors push them."""
    rng = random.Random(seed)
    rounds = -(-count // (TARGETS * len(PROBES)))
    first = round_slot(time.time()) - rounds * ROUND_S
    out = []
    for i in range(count):
        rnd, rest = divmod(i, TARGETS * len(PROBES))
        target, probe = divmod(rest, len(PROBES))
        round_ts = first + rnd * ROUND_S
        base = rng.uniform(1, 250)
        samples = tuple(None if rng.random() < 0.02 else round(base + rng.expovariate(0.5), 3)
                        for _ in range(3))
        out.append(ProbeResult(f"t{target:03d}.example.com", region, PROBES[probe], round_ts,
                               round_ts + rng.uniform(0, 5), Measurement(samples)).to_json())
    return out


def bodies_of(records: list[dict], batch: int) -> list[bytes]:
    return [json.dumps({"results": records[i:i + batch]}, separators=(",", ":")).encode()
            for i in range(0, len(records), batch)]


def push_region(url: str, region: str, bodies: list[bytes], barrier, out) -> None:
    latencies = []
    with httpx.Client(timeout=120) as client:
        barrier.wait()
        for body in bodies:
            headers = {"Content-Type": "application/json",
                       **sign(secret(region), region, int(time.time()), body)}
            start = time.perf_counter()
            resp = client.post(url, content=body, headers=headers)
            latencies.append(time.perf_counter() - start)
            if resp.status_code != 200:
                raise SystemExit(f"{region}: HTTP {resp.status_code} {resp.text[:200]}")
    out.put(latencies)


def run_http(db_path: Path, per_region: dict[str, list[bytes]]) -> tuple[float, list[float]]:
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(len(per_region) + 1), ctx.Queue()
    with running(db_path) as server:
        procs = [ctx.Process(target=push_region, args=(server.push_url, r, b, barrier, out))
                 for r, b in per_region.items()]
        for p in procs:
            p.start()
        barrier.wait()
        start = time.perf_counter()
        latencies = [lat for _ in procs for lat in out.get()]
        elapsed = time.perf_counter() - start
        for p in procs:
            p.join()
    return elapsed, latencies


def run_raw(path: Path, rows: list[tuple], batch: int, schema: bool, durable: bool) -> float:
    """Seconds to executemany rows into an empty file, a transaction per batch: into a bare
    table (schema=False, the ceiling) or into the real results table with its indexes;
    durable: synchronous=FULL (an fsync inside each commit), else NORMAL (none)."""
    conn = db.connect(path) if schema else sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    if not schema:
        conn.execute(f"CREATE TABLE results ({', '.join(COLUMNS)}, received_at)")
    insert = _INSERT.replace("OR IGNORE ", "")
    now = time.time()
    start = time.perf_counter()
    for i in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert, [row + (now,) for row in rows[i:i + batch]])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def db_bytes(path: Path) -> int:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=700)
    args = p.parse_args()
    load = os.getloadavg()  # the 2-core machine may be shared; say how busy it was
    share = -(-args.results // len(REGIONS))
    counts = {r: min(share, args.results - i * share) for i, r in enumerate(REGIONS)}
    records = {r: region_records(r, n, seed=i) for i, (r, n) in enumerate(counts.items())}
    per_region = {r: bodies_of(recs, args.batch) for r, recs in records.items()}
    rows = [validate_record(rec, None) for recs in records.values() for rec in recs]
    del records
    with tempfile.TemporaryDirectory() as tmp:
        central = Path(tmp) / "central.db"
        elapsed, latencies = run_http(central, per_region)
        stored = sqlite3.connect(central).execute("SELECT count(*) FROM results").fetchone()[0]
        size = db_bytes(central)
        raw_s = run_raw(Path(tmp) / "raw.db", rows, args.batch, schema=False, durable=False)
        schema_s = run_raw(Path(tmp) / "schema.db", rows, args.batch, schema=True, durable=False)
        durable_s = run_raw(Path(tmp) / "durable.db", rows, args.batch, schema=True, durable=True)
    if stored != args.results:
        raise SystemExit(f"stored {stored} results, expected {args.results}")
    rate, ceiling = args.results / elapsed, args.results / raw_s
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000
    ok = rate >= BARS["results_per_s"] and rate / ceiling >= BARS["ceiling_ratio"]
    print(f"| ingest: {args.results:,} results, {len(REGIONS)} regions, batches of {args.batch}, "
          f"{os.cpu_count()} cores | value | bar |")
    print("| --- | --- | --- |")
    print(f"| end to end over HTTP, durable (a 200 only once its rows are on disk) "
          f"| {rate:,.0f} results/s ({elapsed:.1f} s) | ≥ 30,000 |")
    print(f"| batch latency p50 / p99 | {p50:.1f} ms / {p99:.1f} ms | |")
    print(f"| bytes per stored result (results + hourly + indexes) | {size / stored:,.0f} | |")
    print(f"| raw executemany ceiling (bare table) | {ceiling:,.0f} rows/s ({raw_s:.1f} s) | |")
    print(f"| raw executemany into the real schema (its indexes, no rollups) "
          f"| {args.results / schema_s:,.0f} rows/s | |")
    commits = -(-args.results // args.batch)
    print(f"| the same with an fsync inside each commit (synchronous=FULL) "
          f"| {args.results / durable_s:,.0f} rows/s, {(durable_s - schema_s) / commits * 1000:.1f} "
          f"ms more per commit | |")
    print(f"| end to end / ceiling | {rate / ceiling:.2f} | ≥ 0.15 |")
    print(f"| machine load average (1 min) at start / end | {load[0]:.1f} / {os.getloadavg()[0]:.1f} | |")
    print(f"\n{'PASS' if ok else 'FAIL'}: bars are ≥ 30,000 results/s and ≥ 0.15 of the ceiling")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

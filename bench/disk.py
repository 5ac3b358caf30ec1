"""Disk budget: the steady-state size of the central database for the real catalog at the
default retention, against the Fly volume that fly/deploy.sh creates.

A sample of the catalog (every k-th target with its own probes, all regions) runs through the
real write path: realistic records (20 icmp samples, 3 tcp, trace hops, certificates, DNS
answers) are validated and stored by ingest.store round by round, with the hourly rollups it
keeps, and retention (ingest.retention, as `nettrace run` applies it after every build) runs
after each round. The raw window is filled and then churned for a day, the hourly table
holds its full span, so free pages are reused as in production. Bytes per stored result and
per hourly row are measured with SQLite's dbstat and extrapolated to the whole catalog.

    .venv/bin/python bench/disk.py                      # 9 sample targets (about a minute)
    .venv/bin/python bench/disk.py --sample-targets 3   # quicker, rougher
    .venv/bin/python bench/disk.py --sample-targets 1 --sample-days 1 3   # the test's seconds
"""
from __future__ import annotations

import argparse
import math
import random
import re
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collect.records import ROUND_S, Hop, Measurement, ProbeResult  # noqa: E402
from collect.targets import CATALOG_PATH, load_catalog  # noqa: E402
from db.connection import connect, transaction  # noqa: E402
from ingest.retention import DAY_S, Retention, prune  # noqa: E402
from ingest.rollup import _UPSERT, HOUR_S  # noqa: E402
from ingest.store import store_rows  # noqa: E402
from ingest.validate import validate_record  # noqa: E402

DEPLOY = ROOT / "fly" / "deploy.sh"
HEADROOM_BAR = 2.0
END_TS = 1_795_606_200  # 2026-11-25T19:30:00Z; any grid slot gives the same sizes
CHURN_DAYS = 1  # rounds stored (and pruned) past a full raw window
RESULT_TABLES = ("results", "sqlite_autoindex_results_1", "results_region")
HOURLY_TABLES = ("hourly", "hourly_hour")
ISSUERS = ("CN=WE1,O=Google Trust Services,C=US", "CN=R11,O=Let's Encrypt,C=US",
           "CN=Amazon RSA 2048 M02,O=Amazon,C=US", "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,"
           "O=DigiCert Inc,C=US")


@dataclass(frozen=True, slots=True)
class Sample:
    """What the sample database holds and what it takes, after the churn."""

    results: int
    hourly: int
    result_bytes: int  # its tables, indexes and the free pages retention left for reuse
    hourly_bytes: int
    other_bytes: int  # schema, keys, signals: does not grow with the catalog
    file_bytes: int


def volume_gb() -> int:
    """VOLUME_GB of fly/deploy.sh: the size the central volume is created with."""
    match = re.search(r"^VOLUME_GB=(\d+)\b", DEPLOY.read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit(f"{DEPLOY}: no VOLUME_GB=N line")
    return int(match.group(1))


def measurement(probe: str, base_ms: float, rng: random.Random) -> Measurement:
    """One realistic result: the sample counts and fields the real probes return."""
    def rtt() -> float | None:
        return None if rng.random() < 0.01 else round(base_ms + rng.gammavariate(2.0, 0.3), 3)

    if probe in ("icmp", "tcp"):
        return Measurement(samples_ms=tuple(rtt() for _ in range(20 if probe == "icmp" else 3)))
    if probe == "tls":
        return Measurement(samples_ms=(rtt(),), cert_expires="2027-02-11T23:59:59Z",
                           cert_issuer=rng.choice(ISSUERS))
    if probe == "http":
        return Measurement(samples_ms=(rtt(),), status=200)
    if probe == "dns":
        return Measurement(samples_ms=(rtt(),), addresses=tuple(
            ".".join(str(rng.randint(1, 254)) for _ in range(4)) for _ in range(rng.randint(1, 4))))
    silent = (3, 9)  # routers that do not answer: '*'
    hops = tuple(Hop(ttl, None if ttl in silent else f"{62 + ttl}.{ttl * 7}.{rng.randint(0, 99)}.1",
                     None if ttl in silent else round(base_ms * ttl / 14 + rng.random(), 3))
                 for ttl in range(1, 15))
    return Measurement(samples_ms=(hops[-1].rtt_ms,), hops=hops,
                       fingerprint=f"{rng.getrandbits(64):016x}")


def fill_hourly_history(conn: sqlite3.Connection, keys: list[tuple[str, str, str]],
                        first_hour: int, last_hour: int, rng: random.Random) -> None:
    """Hourly rows from first_hour up to (not including) last_hour, hour by hour as the
    writer adds them: count 4, unrounded quantiles, loss mostly 0."""
    for day_start in range(first_hour, last_hour, DAY_S):
        rows = []
        for hour in range(day_start, min(day_start + DAY_S, last_hour), HOUR_S):
            for target, region, probe in keys:
                med = 20 + rng.random() * 80
                p95 = med * (1 + rng.random() / 10)
                rows.append((target, region, probe, hour, 4, 4, med, p95, med * 0.97, p95 * 1.05,
                             0.0 if rng.random() < 0.95 else 0.0125))
        with transaction(conn):
            conn.executemany(_UPSERT, rows)


def run_sample(db: Path, catalog_path: Path, every: int, policy: Retention) -> Sample:
    catalog = load_catalog(catalog_path)
    targets = catalog.targets[::every]
    regions = [r.code for r in catalog.regions]
    rng = random.Random(7)
    conn = connect(db)
    conn.execute("PRAGMA synchronous=OFF")  # a benchmark: sizes do not depend on syncing
    first_round = END_TS - int((policy.raw_days + CHURN_DAYS) * DAY_S) + ROUND_S
    keys = [(t.host, r, p) for t in targets for r in regions for p in t.probes]
    fill_hourly_history(conn, keys, first_round - int(policy.hourly_days * DAY_S),
                        first_round // HOUR_S * HOUR_S, rng)
    base = {(t.host, r): 5 + rng.random() * 200 for t in targets for r in regions}
    for round_ts in range(first_round, END_TS + 1, ROUND_S):
        for region in regions:
            records = [ProbeResult(t.host, region, p, round_ts, round_ts + rng.random(),
                                   measurement(p, base[t.host, region], rng)).to_json()
                       for t in targets for p in t.probes]
            rows = [validate_record(r, None, f"[{i}]") for i, r in enumerate(records)]
            store_rows(conn, rows, round_ts + 60.0)
        prune(conn, round_ts + 150.0, policy)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sample = measure(conn)
    conn.close()
    return sample


def measure(conn: sqlite3.Connection) -> Sample:
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0] * page
    used = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    result_bytes = sum(used.pop(name, 0) for name in RESULT_TABLES) + free
    hourly_bytes = sum(used.pop(name, 0) for name in HOURLY_TABLES)
    count = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
             for table in ("results", "hourly")}
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    return Sample(count["results"], count["hourly"], result_bytes, hourly_bytes,
                  sum(used.values()), pages * page)


def steady_rows(catalog_path: Path, policy: Retention) -> tuple[int, int, int, int]:
    """(targets, target-probes, results rows, hourly rows) the whole catalog keeps: raw rounds
    of raw_days plus the hour retention cuts at, hourly rows of hourly_days plus one."""
    catalog = load_catalog(catalog_path)
    series = sum(len(t.probes) for t in catalog.targets) * len(catalog.regions)
    rounds = math.ceil((policy.raw_days * DAY_S + HOUR_S) / ROUND_S)
    hours = math.ceil(policy.hourly_days * DAY_S / HOUR_S) + 1
    probes = sum(len(t.probes) for t in catalog.targets)
    return len(catalog.targets), probes, series * rounds, series * hours


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", type=Path, default=CATALOG_PATH)
    p.add_argument("--sample-targets", type=int, default=9, help="targets in the measured sample")
    p.add_argument("--sample-days", type=float, nargs=2, metavar=("RAW", "HOURLY"),
                   help="a shorter raw and hourly span for the sample only (tests); the estimate "
                        "is always for the default retention")
    args = p.parse_args()
    policy = Retention()
    sample_policy = Retention(*args.sample_days) if args.sample_days else policy
    catalog = load_catalog(args.targets)
    every = max(1, len(catalog.targets) // args.sample_targets)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nettrace-disk-") as tmp:
        sample = run_sample(Path(tmp) / "sample.db", args.targets, every, sample_policy)
    n_targets, n_probes, results, hourly = steady_rows(args.targets, policy)
    per_result = sample.result_bytes / sample.results
    per_hourly = sample.hourly_bytes / sample.hourly
    total = results * per_result + hourly * per_hourly + sample.other_bytes
    volume = volume_gb() * 1e9
    headroom = volume / total
    print(f"# Central database at steady state ({args.targets}: {n_targets} targets, {n_probes} "
          f"target-probes, {len(catalog.regions)} regions, {DAY_S // ROUND_S} rounds/day; "
          f"retention {policy.raw_days:g} d raw, {policy.hourly_days:g} d hourly)")
    print(f"# measured on every {every}th target ({sample.results:,} results, {sample.hourly:,} "
          f"hourly rows, file {mb(sample.file_bytes)}) in {time.monotonic() - started:.0f} s\n")
    print("| table | bytes/row (measured) | rows at steady state | size |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| results ({policy.raw_days:g} d raw, indexes, free pages) | {per_result:,.0f} | "
          f"{results:,} | {mb(results * per_result)} |")
    print(f"| hourly ({policy.hourly_days:g} d, index) | {per_hourly:,.0f} | {hourly:,} | "
          f"{mb(hourly * per_hourly)} |")
    print(f"| schema, keys, signals | | | {mb(sample.other_bytes)} |")
    print(f"| **total** | | | **{mb(total)}** |")
    verdict = "ok" if headroom >= HEADROOM_BAR else "TOO SMALL"
    print(f"\nvolume {volume_gb()} GB (fly/deploy.sh VOLUME_GB): headroom {headroom:.1f}x "
          f"(bar >= {HEADROOM_BAR:g}x): {verdict}")
    return 0 if headroom >= HEADROOM_BAR else 1


if __name__ == "__main__":
    sys.exit(main())

"""Backtest benchmark on a SYNTHETIC database (bench/gen_db.py with --days of raw results: 100
targets x 7 regions, icmp, tcp and trace every 15 minutes, hourly rollups for 90 days; every
figure made up by a seeded generator; the rollups of the raw span are then recomputed from the
raw results, as ingest keeps them). Times one `nettrace signals backtest` process over the
whole history: wall and CPU time, peak RSS, events found. Bar (issue 11): 90 days in <= 60 s.

    .venv/bin/python bench/backtest.py [--db EXISTING.sqlite] [--days 90] [--keep PATH]

Generating 90 days takes long (about 18M results, ~10 GB): --keep PATH keeps the database for
the next run (--db PATH).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen_db import DEFAULT_END, N_TARGETS, generate, write_catalog  # noqa: E402
from bench.rss import run_sampled  # noqa: E402
from collect.targets import CATALOG_PATH  # noqa: E402
from db.connection import connect, transaction  # noqa: E402
from ingest.rollup import flush_rollups  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BAR_S = 60.0
DAY_S = 86400
HOUR_S = 3600


def refresh_rollups(db: Path) -> None:
    """The hourly rollups of the raw span recomputed from the raw results, a day at a time, as
    ingest keeps them (gen_db draws its rollups apart from its raw results; a same-hour-of-week
    baseline from those would not match the rounds)."""
    conn = connect(db)
    try:
        first, last = conn.execute("SELECT min(round_ts), max(round_ts) FROM results").fetchone()
        regions = [r[0] for r in conn.execute("SELECT DISTINCT region FROM hourly")]
        for day in range(first // DAY_S * DAY_S, last + 1, DAY_S):
            marks = [(region, hour) for region in regions
                     for hour in range(day, day + DAY_S, HOUR_S) if first - HOUR_S < hour <= last]
            with transaction(conn):
                conn.executemany("INSERT OR IGNORE INTO hourly_dirty VALUES (?, ?)", marks)
            flush_rollups(conn)
    finally:
        conn.close()


def timed_backtest(db: Path, catalog: Path) -> dict:
    """One backtest process over the whole database, its events as JSON lines; memory sampled
    over all its processes (its workers hold a part of the catalog each)."""
    cmd = [sys.executable, "-m", "nettrace", "signals", "backtest", "--db", str(db),
           "--targets", str(catalog), "--json"]
    before = os.times()
    r = run_sampled(cmd, cwd=ROOT)
    after = os.times()
    if r.returncode != 0:
        sys.exit(f"backtest failed ({r.returncode}); run it by hand: {' '.join(cmd)}")
    cpu = (after.children_user - before.children_user
           + after.children_system - before.children_system)
    return {"wall_s": r.wall_s, "cpu_s": cpu, "sum_mb": r.peak_sum_mb, "max_mb": r.peak_max_mb,
            "events": len(r.stdout.splitlines())}


def stored_rounds(db: Path) -> tuple[int, int]:
    """(series, rounds) the database holds: (target, region, probe) triples and 15-min slots."""
    conn = connect(db, readonly=True)
    try:
        first, last = conn.execute("SELECT min(round_ts), max(round_ts) FROM results").fetchone()
        series = conn.execute("SELECT count(*) FROM (SELECT DISTINCT target, region, probe "
                              "FROM hourly)").fetchone()[0]
    finally:
        conn.close()
    return series, (last - first) // 900 + 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, help="a database made by this script (--keep)")
    p.add_argument("--days", type=int, default=90, help="days of raw results to generate")
    p.add_argument("--keep", type=Path, help="generate into this path and keep it")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="nettrace-bench-backtest-") as tmp:
        db = args.db or args.keep or Path(tmp) / "bench.sqlite"
        catalog = write_catalog(Path(tmp) / "targets.toml", CATALOG_PATH, N_TARGETS)
        if args.db is None:
            if db.exists():
                sys.exit(f"{db}: exists; refusing to add synthetic rows to it")
            started = time.monotonic()
            generate(db, CATALOG_PATH, DEFAULT_END, n_targets=N_TARGETS, raw_days=args.days)
            refresh_rollups(db)
            print(f"synthetic database ready in {time.monotonic() - started:.0f} s "
                  f"({db.stat().st_size / 2**30:.1f} GB)")
        os.sync()
        load = os.getloadavg()[0]
        r = timed_backtest(db, catalog)
        series, rounds = stored_rounds(db)
    print("\n| replay | series x rounds | events | wall s | CPU s | peak RSS MB, summed | "
          "largest process MB | bar |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    ok = r["wall_s"] <= BAR_S
    print(f"| {rounds / 96:.0f} days, {N_TARGETS} targets x 7 regions (icmp, tcp, trace) | "
          f"{series} x {rounds:,} | {r['events']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
          f"{r['sum_mb']:.0f} | {r['max_mb']:.0f} | {'pass' if ok else 'MISSED'} "
          f"(<= {BAR_S:.0f} s) |")
    print(f"\n(load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, "
          f"{os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

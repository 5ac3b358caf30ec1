"""Build benchmark on a SYNTHETIC database (bench/gen_db.py: 100 targets x 7 regions, icmp, tcp and
trace every 15 min; raw 7 days, hourly rollups 90 days). Prints a table of full and incremental
builds: wall time, peak RSS and files written. Each build is a separate `nettrace build` process.

    .venv/bin/python bench/build.py [--db EXISTING.sqlite]   # a copy is used; the original stays

Bars (issue 4): full <= 60 s, incremental <= 5 s, peak RSS <= 1 GB, on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen_db import DEFAULT_END, N_TARGETS, PROBES, base_ms, generate, route_detail  # noqa: E402
from db.connection import connect  # noqa: E402
from collect.records import ROUND_S, Hop, Measurement, ProbeResult  # noqa: E402
from ingest.store import store_batch  # noqa: E402
from collect.targets import CATALOG_PATH, load_catalog  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BARS = {"full": 60.0, "incremental": 5.0}
RSS_BAR_MB = 1024
_FILES = re.compile(r"(\d+) public and (\d+) private files \((\d+) reused\)")


def new_round_records(catalog_path: Path, round_ts: int) -> list[dict]:
    """One synthetic round of every (target, region, probe), as a collector would push it."""
    catalog = load_catalog(catalog_path)
    out = []
    for t in catalog.targets[:N_TARGETS]:
        for region in catalog.regions:
            base = base_ms(t.host, region.code) * 1.01
            for probe in PROBES:
                if probe == "trace":
                    detail = json.loads(route_detail(t.host, region.code, 1, base)[0])
                    hops = tuple(Hop(h["ttl"], h["address"], h["rtt_ms"]) for h in detail["hops"])
                    m = Measurement((round(base + 0.5, 3),), hops=hops,
                                    fingerprint=detail["fingerprint"])
                else:
                    m = Measurement(tuple(round(base + 0.4 + 0.1 * i, 3) for i in range(4)))
                out.append(ProbeResult(t.host, region.code, probe, round_ts, round_ts + 1.5,
                                       m).to_json())
    return out


def timed_build(db: Path, work: Path, now: float) -> dict:
    # Flush the database copy and earlier builds to disk first: their writeback (gigabytes
    # here) would otherwise throttle this build's writes, which a build 15 minutes after the
    # last never meets.
    os.sync()
    cmd = [sys.executable, "-m", "nettrace", "build", "--db", str(db), "--out",
           str(work / "public"), "--private", str(work / "private"), "--cache",
           str(work / "cache"), "--now", str(now), "--targets", str(CATALOG_PATH)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    if status != 0:
        sys.exit(f"build failed ({status}): {out}")
    public, private, reused = map(int, _FILES.search(out).groups())
    return {"wall_s": wall, "rss_mb": usage.ru_maxrss / 1024, "files": public + private,
            "reused": reused}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, help="a database made by bench/gen_db.py (copied)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="nettrace-bench-build-") as tmp:
        work = Path(tmp)
        db = work / "bench.sqlite"
        started = time.monotonic()
        if args.db:
            shutil.copyfile(args.db, db)
        else:
            generate(db, CATALOG_PATH, DEFAULT_END)
        print(f"synthetic database ready in {time.monotonic() - started:.0f} s "
              f"({db.stat().st_size / 2**20:.0f} MB)")
        rows = [("full (empty cache)", "full", timed_build(db, work, DEFAULT_END + 30))]
        for label, round_ts in (("incremental: one new round, same hour", DEFAULT_END + ROUND_S),
                                ("incremental: one new round, new hour",
                                 DEFAULT_END + 2 * ROUND_S)):
            conn = connect(db)
            store_batch(conn, new_round_records(CATALOG_PATH, round_ts), received_at=round_ts + 40)
            conn.close()
            rows.append((label, "incremental", timed_build(db, work, round_ts + 30)))
    print("\n| build | wall s | peak RSS MB | files written | reused | bar |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for label, kind, r in rows:
        ok = r["wall_s"] <= BARS[kind] and r["rss_mb"] <= RSS_BAR_MB
        print(f"| {label} | {r['wall_s']:.1f} | {r['rss_mb']:.0f} | {r['files']} | "
              f"{r['reused']} | {'ok' if ok else 'MISSED'} (<= {BARS[kind]:.0f} s, "
              f"<= {RSS_BAR_MB} MB) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

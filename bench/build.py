"""Build benchmark on a SYNTHETIC database (bench/gen_db.py: N targets x 7 regions, icmp, tcp
and trace every 15 min; raw 7 days, hourly rollups 90 days). Prints a table of full and
incremental builds per catalog size: wall time, peak RSS summed over all the build's processes
(sampled every 20 ms: central's 512 MB is shared by ingest, build and proxy, so what counts is
the sum, not the largest process) and files written. Each build is a `nettrace build` process.

    .venv/bin/python bench/build.py [--targets 100,400,1000] [--db EXISTING.sqlite] [--keep DIR]

--db (a copy is used) is a database of 100 targets made by gen_db.py; --keep DIR keeps each
generated database as DIR/bench-N.sqlite and builds on a copy of it in later runs (1,000
targets take ~11 GB and long to generate). Bars (issue 14), at 100
targets: full <= 60 s and <= 300 MB, incremental <= 5 s and <= 150 MB, on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen_db import (DEFAULT_END, N_TARGETS, PROBES, base_ms, generate,  # noqa: E402
                          route_detail, write_catalog)
from bench.rss import run_sampled  # noqa: E402
from collect.records import ROUND_S, Hop, Measurement, ProbeResult  # noqa: E402
from collect.targets import CATALOG_PATH, load_catalog  # noqa: E402
from db.connection import connect  # noqa: E402
from ingest.store import store_batch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BARS = {"full": (60.0, 300.0), "incremental": (5.0, 150.0)}  # (wall s, summed RSS MB)
_FILES = re.compile(r"(\d+) public and (\d+) private files \((\d+) reused\)")


def new_round_records(catalog_path: Path, round_ts: int) -> list[dict]:
    """One synthetic round of every (target, region, probe), as a collector would push it."""
    catalog = load_catalog(catalog_path)
    out = []
    for t in catalog.targets:
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


def timed_build(db: Path, work: Path, catalog: Path, now: float) -> dict:
    # Flush the database copy and earlier builds to disk first: their writeback (gigabytes
    # here) would otherwise throttle this build's writes, which a build 15 minutes after the
    # last never meets.
    os.sync()
    cmd = [sys.executable, "-m", "nettrace", "build", "--db", str(db), "--out",
           str(work / "public"), "--private", str(work / "private"), "--cache",
           str(work / "cache"), "--now", str(now), "--targets", str(catalog)]
    run = run_sampled(cmd, cwd=ROOT)
    if run.returncode != 0:
        sys.exit(f"build failed ({run.returncode}): {run.stdout}")
    public, private, reused = map(int, _FILES.search(run.stdout).groups())
    return {"wall_s": run.wall_s, "sum_mb": run.peak_sum_mb, "max_mb": run.peak_max_mb,
            "files": public + private, "reused": reused}


def bench_size(work: Path, n_targets: int, db_copy: Path | None) -> list[tuple]:
    catalog = write_catalog(work / "targets.toml", CATALOG_PATH, n_targets)
    db = work / "bench.sqlite"
    started = time.monotonic()
    if db_copy is not None and not db_copy.exists():
        generate(db_copy, catalog, DEFAULT_END, n_targets=n_targets)
    if db_copy is not None:
        shutil.copyfile(db_copy, db)
    else:
        generate(db, catalog, DEFAULT_END, n_targets=n_targets)
    print(f"{n_targets} targets: synthetic database ready in {time.monotonic() - started:.0f} s "
          f"({db.stat().st_size / 2**20:.0f} MB)", flush=True)
    rows = [(n_targets, "full (no state)", "full", timed_build(db, work, catalog,
                                                               DEFAULT_END + 30))]
    for label, round_ts in (("incremental: new round, same hour", DEFAULT_END + ROUND_S),
                            ("incremental: new round, new hour", DEFAULT_END + 2 * ROUND_S)):
        conn = connect(db)
        store_batch(conn, new_round_records(catalog, round_ts), received_at=round_ts + 40)
        conn.close()
        rows.append((n_targets, label, "incremental", timed_build(db, work, catalog,
                                                                  round_ts + 30)))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default=str(N_TARGETS),
                   help="comma-separated catalog sizes, e.g. 100,400,1000")
    p.add_argument("--db", type=Path, help="a 100-target database made by bench/gen_db.py")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="keep generated databases here (bench-N.sqlite) and reuse them")
    args = p.parse_args()
    rows = []
    for n in (int(x) for x in args.targets.split(",")):
        kept = None if args.keep is None else args.keep / f"bench-{n}.sqlite"
        with tempfile.TemporaryDirectory(prefix="nettrace-bench-build-",
                                         dir=args.keep) as tmp:
            rows += bench_size(Path(tmp), n, args.db if args.db and n == N_TARGETS else kept)
    print("\n| targets | build | wall s | peak RSS MB, summed | largest process MB | "
          "files written | reused | bar (at 100 targets) |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for n, label, kind, r in rows:
        wall_bar, rss_bar = BARS[kind]
        ok = r["wall_s"] <= wall_bar and r["sum_mb"] <= rss_bar
        verdict = ("ok" if ok else "MISSED") if n == N_TARGETS else "-"
        print(f"| {n} | {label} | {r['wall_s']:.1f} | {r['sum_mb']:.0f} | {r['max_mb']:.0f} | "
              f"{r['files']} | {r['reused']} | {verdict} (<= {wall_bar:.0f} s, "
              f"<= {rss_bar:.0f} MB) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

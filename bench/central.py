"""Central's memory: ingest, the keyed proxy and the build running at once on the build
benchmark's SYNTHETIC database (bench/gen_db.py: 100 targets x 7 regions), as central runs them
in its 512 MB. Ingest takes each new round over HTTP (signed batches, one per region), the
proxy answers keyed requests from 8 client threads throughout, and a `nettrace build` follows:
a full one without state (after one that made the site the proxy serves), then one per new
round. RSS is sampled every 20 ms per program (all its processes) and summed across all three
at the same instant; also without the database pages SQLite maps (clean file pages, which the
kernel reclaims under pressure like any page cache).

    .venv/bin/python bench/central.py [--db /tmp/bench.sqlite] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.build import new_round_records  # noqa: E402
from bench.gen_db import DEFAULT_END, N_TARGETS, generate, write_catalog  # noqa: E402
from bench.rss import SAMPLE_S, mapped_kb, rss_kb, session_pids  # noqa: E402
from collect.records import ROUND_S  # noqa: E402
from collect.signing import sign  # noqa: E402
from collect.targets import CATALOG_PATH, load_catalog  # noqa: E402
from db.connection import connect  # noqa: E402
from proxy.keys import create_key  # noqa: E402
from tests.conftest import free_port, wait_for  # noqa: E402
from tests.ingest.ingest_fixtures import REGIONS, secret, server_env  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BAR_MB = 512.0
PEPPER = "bench-pepper-not-a-secret-0123456789"
CLIENTS = 8


class Sampler:
    """Peak RSS of each named program (a session of processes) and of their sum, with and
    without the database's pages that SQLite maps (ingest's writer maps up to 1 GB of it)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.sessions: dict[str, int] = {}
        self.peaks: dict[str, float] = defaultdict(float)
        self.peak_sum = self.peak_sum_unmapped = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def reset(self) -> None:
        self.peaks.clear()
        self.peak_sum = self.peak_sum_unmapped = 0.0

    def _run(self) -> None:
        while not self._done.is_set():
            pids = {name: session_pids(sid) for name, sid in list(self.sessions.items())}
            sizes = {name: sum(map(rss_kb, ps)) / 1024 for name, ps in pids.items()}
            mapped = sum(mapped_kb(pid, self.db) for ps in pids.values() for pid in ps) / 1024
            for name, mb in sizes.items():
                self.peaks[name] = max(self.peaks[name], mb)
            self.peak_sum = max(self.peak_sum, sum(sizes.values()))
            self.peak_sum_unmapped = max(self.peak_sum_unmapped, sum(sizes.values()) - mapped)
            time.sleep(SAMPLE_S)


def start(cmd: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def push_round(url: str, catalog: Path, round_ts: int) -> None:
    """One round of every target, one signed batch per region, as the collectors push it."""
    by_region = defaultdict(list)
    for record in new_round_records(catalog, round_ts):
        by_region[record["region"]].append(record)
    with httpx.Client(timeout=60) as client:
        for region, records in by_region.items():
            body = json.dumps({"results": records}, separators=(",", ":")).encode()
            headers = {"Content-Type": "application/json",
                       **sign(secret(region), region, int(time.time()), body)}
            answer = client.post(url, content=body, headers=headers)
            if answer.status_code != 200:
                sys.exit(f"ingest refused {region}'s batch: {answer.status_code} {answer.text}")


def stored(db: Path, round_ts: int) -> bool:
    conn = connect(db, readonly=True)
    try:
        return conn.execute("SELECT count(*) FROM results WHERE round_ts = ?",
                            (round_ts,)).fetchone()[0] > 0
    finally:
        conn.close()


def keyed_load(base: str, key: str, hosts: list[str], stop: threading.Event,
               answers: Counter) -> None:
    """Keyed requests in a loop, as subscribers make them: latest, history, signals, routes."""
    paths = [p for h in hosts for p in (
        f"/api/v1/latency/{h}", f"/api/v1/latency/{h}/history?hours=720",
        f"/api/v1/routes/{h}", "/api/v1/signals", "/api/v1/targets",
        f"/api/v1/compare?targets={h},{hosts[0]}")]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                      timeout=30) as client:
        i = 0
        while not stop.is_set():
            try:
                answers[client.get(paths[i % len(paths)]).status_code] += 1
            except httpx.TransportError:
                answers["no connection"] += 1
            i += 1


def build(sampler: Sampler, work: Path, db: Path, catalog: Path, now: float) -> float:
    started = time.monotonic()
    proc = start([sys.executable, "-m", "nettrace", "build", "--db", str(db), "--out",
                  str(work / "public"), "--private", str(work / "private"), "--cache",
                  str(work / "cache"), "--now", str(now), "--targets", str(catalog)])
    sampler.sessions["build"] = proc.pid
    if proc.wait() != 0:
        sys.exit(f"build failed ({proc.returncode})")
    del sampler.sessions["build"]
    return time.monotonic() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, help="a database made by bench/gen_db.py (a copy is used; "
                   "without it one is generated)")
    p.add_argument("--rounds", type=int, default=2, help="new rounds pushed, each then built")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="nettrace-bench-central-") as tmp:
        work = Path(tmp)
        db = work / "central.sqlite"
        catalog = write_catalog(work / "targets.toml", CATALOG_PATH, N_TARGETS)
        if args.db is None:
            generate(db, catalog, DEFAULT_END)
        else:
            shutil.copyfile(args.db, db)
        hosts = [t.host for t in load_catalog(catalog).targets][:20]
        conn = connect(db)
        key = create_key(conn, "enterprise", "bench", PEPPER.encode(), time.time())
        conn.close()
        sampler = Sampler(db)
        sampler.start()
        ingest_port, proxy_port = free_port(), free_port()
        ingest = start([sys.executable, "-m", "nettrace", "ingest", "serve", "--db", str(db),
                        "--listen", f"127.0.0.1:{ingest_port}", "--regions", ",".join(REGIONS)],
                       env=server_env())
        (work / "public").mkdir()
        (work / "private").mkdir()
        proxy = start([sys.executable, "-m", "nettrace", "serve", "--public",
                       str(work / "public"), "--private", str(work / "private"), "--db", str(db),
                       "--listen", f"127.0.0.1:{proxy_port}"],
                      env={**os.environ, "NETTRACE_KEY_PEPPER": PEPPER})
        sampler.sessions.update(ingest=ingest.pid, proxy=proxy.pid)
        push_url = f"http://127.0.0.1:{ingest_port}/v1/results"
        proxy_url = f"http://127.0.0.1:{proxy_port}"
        wait_for(lambda: _answers(proxy_url), 30, "the proxy to answer")
        stop, answers = threading.Event(), Counter()
        clients = [threading.Thread(target=keyed_load, args=(proxy_url, key, hosts, stop,
                                                               answers)) for _ in range(CLIENTS)]
        for c in clients:
            c.start()
        try:
            build(sampler, work, db, catalog, DEFAULT_END + 30)  # a site for the proxy
            shutil.rmtree(work / "cache")  # ... and a lost state, as after a deploy
            sampler.reset()
            answers.clear()
            wall = build(sampler, work, db, catalog, DEFAULT_END + 30)
            rows.append(_row("full build (no state)", wall, sampler, answers))
            for n in range(1, args.rounds + 1):
                round_ts = DEFAULT_END + n * ROUND_S
                sampler.reset()
                answers.clear()
                push_round(push_url, catalog, round_ts)
                wait_for(lambda: stored(db, round_ts), 60, f"round {n} stored")
                wall = build(sampler, work, db, catalog, round_ts + 30)
                rows.append(_row(f"round {n} pushed and stored, incremental build", wall,
                                 sampler, answers))
        finally:
            stop.set()
            for c in clients:
                c.join()
            for proc in (ingest, proxy):
                proc.terminate()
                proc.wait(30)
            sampler.stop()
    print("\n| phase | ingest MB | proxy MB | build MB | summed at one instant MB | ... less the "
          "database's mapped pages | build s | keyed answers meanwhile | bar |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for label, wall, peaks, total, unmapped, codes in rows:
        print(f"| {label} | {peaks.get('ingest', 0):.0f} | {peaks.get('proxy', 0):.0f} | "
              f"{peaks.get('build', 0):.0f} | {total:.0f} | {unmapped:.0f} | {wall:.1f} | "
              f"{codes} | {'pass' if total <= BAR_MB else 'MISSED'} (<= {BAR_MB:.0f} MB) |")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    return 0


def _row(label: str, wall: float, sampler: Sampler, answers: Counter) -> tuple:
    codes = ", ".join(f"{n} × {code}" for code, n in sorted(answers.items(), key=str))
    return (label, wall, dict(sampler.peaks), sampler.peak_sum, sampler.peak_sum_unmapped,
            codes)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/api/v1/targets", timeout=1).status_code in (200, 401)
    except httpx.TransportError:
        return False


if __name__ == "__main__":
    sys.exit(main())

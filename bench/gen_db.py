"""Generate a SYNTHETIC central database for the build benchmark: 100 targets x 7 regions, icmp,
tcp and trace every 15 minutes. Raw results cover the last 7 days (what retention keeps);
hourly rollups cover 90 days. Every figure is made up by a seeded generator (labelled
synthetic in the file's `bench_meta` table); nothing was measured.

    .venv/bin/python bench/gen_db.py OUT.sqlite [--targets targets.toml] [--end UNIX_S]
"""
from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db.connection import connect  # noqa: E402
from collect.records import ROUND_S  # noqa: E402
from collect.targets import CATALOG_PATH, catalog_toml, load_catalog  # noqa: E402

PROBES = ("icmp", "tcp", "trace")
N_TARGETS = 100
RAW_DAYS = 7
HOURLY_DAYS = 90
SAMPLES = 4
HOUR_S = 3600
DEFAULT_END = 1_795_606_200  # 2026-11-25T19:30:00Z, mid-hour
_RESULTS = ("INSERT INTO results (target, region, probe, round_ts, ts, ok, rtt_ms, min_ms, p95_ms, "
            "max_ms, mean_ms, jitter_ms, loss, samples_ms, detail, error, sent, fingerprint, "
            "received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
_HOURLY = "INSERT INTO hourly VALUES (?,?,?,?,?,?,?,?,?,?,?)"


def base_ms(host: str, region: str) -> float:
    digest = hashlib.sha256(f"{host}/{region}".encode()).digest()
    return 1.5 + digest[0] * 0.9


def level_ms(base: float, ts: np.ndarray) -> np.ndarray:
    """A daily rhythm of +-4 % around base (busier during the UTC trading day)."""
    return base * (1 + 0.04 * np.sin(2 * np.pi * (ts % 86400) / 86400))


def route_detail(host: str, region: str, variant: int, last_ms: float) -> tuple[str, str]:
    """(detail JSON, fingerprint) of one synthetic route variant."""
    addrs = [f"10.{variant}.{i}.{len(host) % 200}" for i in range(1, 8)]
    hops = [{"ttl": i + 1, "address": a, "rtt_ms": round(last_ms * (i + 1) / 7, 3)}
            for i, a in enumerate(addrs)]
    fingerprint = hashlib.sha256("|".join(addrs).encode()).hexdigest()[:16]
    detail = {"hops": hops, "path": addrs, "fingerprint": fingerprint}
    return json.dumps(detail, separators=(",", ":")), fingerprint


def raw_rows(host: str, region: str, rounds: np.ndarray, switch: int | None,
             rng: np.random.Generator) -> list[tuple]:
    """One (target, region)'s icmp, tcp and trace results of the given rounds; the route
    changes at switch (unix s) when given."""
    base = base_ms(host, region)
    level = level_ms(base, rounds)
    details = [route_detail(host, region, v, base) for v in (1, 2)]
    rows = []
    for probe in PROBES:
        n = 1 if probe == "trace" else SAMPLES
        s = np.round(level[:, None] + 0.4 + rng.gamma(2.0, 0.02 * base + 0.05,
                                                       (rounds.size, n)), 3)
        jitter = np.abs(np.diff(s, axis=1)).mean(axis=1) if n > 1 else np.zeros(rounds.size)
        stats = np.round(np.column_stack([
            np.median(s, axis=1), s.min(axis=1), np.percentile(s, 95, axis=1), s.max(axis=1),
            s.mean(axis=1), jitter]), 3).tolist()
        samples = [json.dumps(v) for v in s.tolist()]
        for i, ts in enumerate(rounds.tolist()):
            detail = fingerprint = None
            if probe == "trace":
                detail, fingerprint = details[1 if switch is not None and ts >= switch else 0]
            rows.append((host, region, probe, ts, ts + 1.5, 1, *stats[i], 0.0, samples[i],
                         detail, None, n, fingerprint, ts + 45.0))
    return rows


def hourly_rows(host: str, region: str, hours: np.ndarray, rng: np.random.Generator) -> list:
    base = base_ms(host, region)
    level = level_ms(base, hours + HOUR_S / 2)
    out = []
    for probe in PROBES:
        med = level + 0.4 + rng.gamma(2.0, 0.02 * base + 0.05, hours.size)
        p95 = med + rng.gamma(2.0, 0.05 * base + 0.05, hours.size)
        for h, m, p in zip(hours.tolist(), np.round(med, 3).tolist(), np.round(p95, 3).tolist()):
            out.append((host, region, probe, h, 4, 4, m, p, round(m * 0.97, 3),
                        round(p * 1.05, 3), 0.0))
    return out


def write_catalog(out: Path, catalog_path: Path, n_targets: int) -> Path:
    """A catalog of n_targets: the real catalog's first ones, then numbered copies of them
    (`s2-api.kraken.com`, ...; of named hosts only, as a numbered IP address is no address)
    when n_targets is more than it holds; same regions."""
    catalog = load_catalog(catalog_path)
    real = catalog.targets
    named = [t for t in real if not _is_address(t.host)]
    copies = []
    for i in range(max(0, n_targets - len(real))):
        t, number = named[i % len(named)], 2 + i // len(named)
        copies.append(replace(t, host=f"s{number}-{t.host}", name=f"{t.name} #{number}"))
    picked = (*real[:n_targets], *copies)
    used = tuple(c for c in catalog.categories if any(t.category == c for t in picked))
    out.write_text(catalog_toml(replace(catalog, categories=used, targets=picked)))
    return out


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def generate(path: Path, catalog_path: Path, end_ts: int, seed: int = 42,
             n_targets: int = N_TARGETS, raw_days: int = RAW_DAYS) -> None:
    catalog = load_catalog(catalog_path)
    targets = catalog.targets[:n_targets]
    rng = np.random.default_rng(seed)
    rounds = np.arange(end_ts - raw_days * 86400 + ROUND_S, end_ts + 1, ROUND_S)
    last_full_hour = end_ts // HOUR_S * HOUR_S - HOUR_S
    hours = np.arange(last_full_hour - HOURLY_DAYS * 86400 + HOUR_S, end_ts + 1, HOUR_S)
    conn = connect(path)
    conn.execute("PRAGMA synchronous=OFF")  # a generator: a crash just means generate again
    conn.execute("CREATE TABLE IF NOT EXISTS bench_meta (key TEXT, value TEXT)")
    conn.execute("INSERT INTO bench_meta VALUES ('synthetic', 'generated by bench/gen_db.py; "
                 "no figure was measured')")
    switch = int(rounds[len(rounds) // 2])
    for day in range(raw_days):  # round-major, as ingest stores them
        day_rounds = rounds[day * 96:(day + 1) * 96]
        rows = [row for t in targets for region in catalog.regions
                for row in raw_rows(t.host, region.code, day_rounds,
                                    switch if _moves(t.host, region.code) else None, rng)]
        rows.sort(key=lambda r: r[3])
        conn.execute("BEGIN")
        conn.executemany(_RESULTS, rows)
        conn.execute("COMMIT")
    for t in targets:
        conn.execute("BEGIN")
        for region in catalog.regions:
            conn.executemany(_HOURLY, hourly_rows(t.host, region.code, hours, rng))
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _moves(host: str, region: str) -> bool:
    """About 5 % of (target, region) pairs change route half-way through the raw window."""
    return hashlib.sha256(f"route/{host}/{region}".encode()).digest()[0] < 13


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--targets", type=Path, default=CATALOG_PATH)
    p.add_argument("--end", type=int, default=DEFAULT_END, help="the latest round, unix s")
    args = p.parse_args()
    if args.out.exists():
        sys.exit(f"{args.out}: exists; refusing to add synthetic rows to it")
    generate(args.out, args.targets, args.end // ROUND_S * ROUND_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())

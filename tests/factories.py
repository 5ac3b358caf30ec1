"""The shared fixture database: `make_db(tmp_path, **overrides)` stores a small, realistic set of
results through the real ingest writer (ingest.store.store_batch), so rollups are real too.

Defaults: 4 targets in 2 categories x 3 regions x 12 rounds of icmp, tcp, tls and trace. The
figures come from a seeded generator (labelled synthetic), never from a network.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path

from db.connection import connect
from collect.records import ROUND_S, Hop, Measurement, ProbeResult, Region, Target
from ingest.store import store_batch
from collect.targets import Catalog

END_ROUND_TS = 1_795_644_000  # 2026-11-25T22:00:00Z, an hour boundary
TARGETS = (
    Target("api.kraken.com", "Kraken", "Crypto Exchanges"),
    Target("api.binance.com", "Binance", "Crypto Exchanges"),
    Target("www.nyse.com", "NYSE", "Exchanges & Markets"),
    Target("www.cmegroup.com", "CME Group", "Exchanges & Markets"),
)
REGIONS = (
    Region("ewr", "Newark", "US East", 40.7, -74.2),
    Region("fra", "Frankfurt", "EU", 50.1, 8.7),
    Region("sin", "Singapore", "Asia", 1.35, 103.8),
)


@dataclass(frozen=True, slots=True)
class FixtureSpec:
    targets: tuple[Target, ...] = TARGETS
    regions: tuple[Region, ...] = REGIONS
    rounds: int = 12
    end_round_ts: int = END_ROUND_TS
    probes: tuple[str, ...] = ("icmp", "tcp", "tls", "trace")
    silent_regions: tuple[str, ...] = ()  # in the catalog, never report
    silent_targets: tuple[str, ...] = ()  # in the catalog, no data
    gap_rounds: tuple[int, ...] = ()  # round indexes (0 = oldest) with no results at all
    late_regions: tuple[str, ...] = ()  # these miss the latest round
    route_change: tuple[str, str, int] | None = None  # (target, region, first round index)
    # (target, region, ms) added to the round before the latest: a spike the latest shows over
    spike: tuple[str, str, float] | None = None
    # (target, region, ms, from round index[, until round index, exclusive])
    shift: tuple | None = None
    extra_records: tuple[dict, ...] = field(default=())  # stored as well (e.g. skewed rows)
    seed: int = 1


@dataclass(frozen=True, slots=True)
class Fixture:
    path: Path
    catalog: Catalog
    spec: FixtureSpec

    @property
    def round_ts(self) -> int:
        return self.spec.end_round_ts


def make_db(tmp_path: Path, **overrides) -> Fixture:
    """A central database file under tmp_path built from FixtureSpec(**overrides)."""
    spec = FixtureSpec(**overrides)
    path = Path(tmp_path) / "central.sqlite"
    conn = connect(path)
    rng = random.Random(spec.seed)
    records = [r for i in range(spec.rounds) for r in _round_records(spec, i, rng)]
    records += list(spec.extra_records)
    for start in range(0, len(records), 5000):
        chunk = records[start:start + 5000]
        store_batch(conn, chunk, received_at=spec.end_round_ts + 30)
    conn.close()
    categories = tuple(dict.fromkeys(t.category for t in spec.targets))
    catalog = Catalog(str(tmp_path / "targets.toml"), spec.regions, categories, spec.targets)
    return Fixture(path, catalog, spec)


def round_ts_of(spec: FixtureSpec, index: int) -> int:
    return spec.end_round_ts - (spec.rounds - 1 - index) * ROUND_S


def result_record(target: str, region: str, probe: str, round_ts: int,
                  measurement: Measurement) -> dict:
    return ProbeResult(target, region, probe, round_ts, round_ts + 2.5, measurement).to_json()


def _round_records(spec: FixtureSpec, index: int, rng: random.Random) -> list[dict]:
    if index in spec.gap_rounds:
        return []
    latest = index == spec.rounds - 1
    out = []
    for target in spec.targets:
        if target.host in spec.silent_targets:
            continue
        for region in spec.regions:
            if region.code in spec.silent_regions or (latest and region.code in spec.late_regions):
                continue
            for probe in spec.probes:
                m = _measure(spec, target.host, region.code, probe, index, rng)
                out.append(result_record(target.host, region.code, probe,
                                         round_ts_of(spec, index), m))
    return out


def _base_ms(host: str, region: str) -> float:
    digest = hashlib.sha256(f"{host}/{region}".encode()).digest()
    return 2.0 + digest[0] % 180


def _measure(spec: FixtureSpec, host: str, region: str, probe: str, index: int,
             rng: random.Random) -> Measurement:
    base = _base_ms(host, region) + (0.0 if probe == "icmp" else 0.4)
    if spec.spike and spec.spike[:2] == (host, region) and index == spec.rounds - 2:
        base += spec.spike[2]
    if spec.shift and spec.shift[:2] == (host, region) and spec.shift[3] <= index < (
            spec.shift[4] if len(spec.shift) > 4 else spec.rounds):
        base += spec.shift[2]
    samples = tuple(round(base + rng.gauss(0, 0.3), 3) for _ in range(4))
    if probe == "tls":
        return Measurement(samples, cert_expires="2027-02-01T00:00:00Z",
                           cert_issuer="CN=Synthetic CA")
    if probe == "trace":
        moved = spec.route_change and spec.route_change[:2] == (host, region) \
            and index >= spec.route_change[2]
        hops = _hops(host, region, base, moved)
        addresses = "|".join(h.address or "*" for h in hops)
        fingerprint = hashlib.sha256(addresses.encode()).hexdigest()[:16]
        return Measurement(samples[:1], hops=hops, fingerprint=fingerprint)
    return Measurement(samples)


def _hops(host: str, region: str, last_ms: float, moved: bool) -> tuple[Hop, ...]:
    n = 6 if moved else 5
    tag = 200 if moved else 100
    hops = [Hop(i + 1, None if i == 2 else f"10.{tag}.{len(host) % 50}.{i + 1}",
                None if i == 2 else round(last_ms * (i + 1) / n, 3)) for i in range(n)]
    return tuple(hops)

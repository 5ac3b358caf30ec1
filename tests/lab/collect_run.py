"""Drive the real `nettrace collect` inside the lab's collector namespace and read its JSONL.

write_catalog() turns LabTargets into a targets.toml that collect/targets.py loads (IP literal
hosts, one "Lab" category, region ewr); run_collect() runs one round and returns its records
with its duration, so tests compare the collector's figures with the injected truth.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.conftest import need
from tests.lab import catalog
from tests.lab.topology import LAB_PORT, Lab, LabTarget, need_lab

NETTRACE = Path(sys.executable).with_name("nettrace")
REGION = "ewr"


def need_collector_lab() -> None:
    """The lab's needs, and the installed nettrace command (make setup installs it)."""
    need_lab()
    need(NETTRACE.exists(), f"needs the nettrace command at {NETTRACE} (`make setup`)")


def write_catalog(path: Path, targets: list[LabTarget], probes: tuple[str, ...]) -> Path:
    """A catalog of the lab targets, each probed with probes, on LAB_PORT."""
    return catalog.write_catalog(path, (
        catalog.CatalogEntry(x.address, f"lab {x.kind} {x.address} {x.delay_ms:g} ms", LAB_PORT, probes)
        for x in targets))


@dataclass(frozen=True, slots=True)
class CollectRun:
    """One `nettrace collect --once --jsonl` round: its records, wall time and exit."""

    records: tuple[dict, ...]
    wall_s: float  # the whole command, interpreter start included
    round_s: float  # from the first probe's start (its record's ts) to the command's exit
    returncode: int
    stderr: str

    def record(self, target: LabTarget, probe: str) -> dict:
        """The one record of target and probe (AssertionError, with stderr, if missing)."""
        found = [r for r in self.records if r["target"] == target.address and r["probe"] == probe]
        assert len(found) == 1, f"{len(found)} {probe} records for {target.address}; stderr:\n{self.stderr}"
        return found[0]


def run_collect(lab: Lab, catalog: Path, probes: str, samples: int | None = None,
                interval_s: float | None = None, timeout_s: float = 120) -> CollectRun:
    """Run one collector round over catalog inside the lab's collector namespace; samples and
    interval_s override the collector's defaults (20 icmp / 3 tcp samples, 0.25 s apart)."""
    cmd = [str(NETTRACE), "collect", "--targets", str(catalog), "--region", REGION,
           "--once", "--jsonl", "--probes", probes]
    if samples is not None:
        cmd += ["--samples", str(samples)]
    if interval_s is not None:
        cmd += ["--interval", str(interval_s)]
    start = time.monotonic()
    done = lab.collector.run(cmd, check=False, timeout_s=timeout_s)
    wall_s, ended = time.monotonic() - start, time.time()
    records = tuple(json.loads(line) for line in done.stdout.splitlines() if line.strip())
    assert done.returncode == 0 and records, f"collect failed ({done.returncode}):\n{done.stderr}"
    first_probe = min(_unix_s(r["ts"]) for r in records)
    return CollectRun(records, wall_s, ended - first_probe, done.returncode, done.stderr)


def _unix_s(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()

"""Drive the real `nettrace collect` inside the lab's collector namespace and read its JSONL.

write_catalog() turns LabTargets into a targets.toml that collect/targets.py loads (IP literal
hosts, one "Lab" category, region ewr); run_collect() runs one round and returns its records
with the wall time, so tests compare the collector's figures with the injected truth.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.lab.topology import LAB_PORT, Lab, LabTarget

NETTRACE = Path(sys.executable).with_name("nettrace")
REGION = "ewr"
CATALOG_HEAD = """categories = ["Lab"]

[regions.ewr]
city = "Newark"
note = "lab collector"
lat = 40.7357
lon = -74.1724
"""


def write_catalog(path: Path, targets: list[LabTarget], probes: tuple[str, ...]) -> Path:
    """A catalog of the lab targets, each probed with probes, on LAB_PORT."""
    listed = ", ".join(f'"{p}"' for p in probes)
    entries = [
        f'\n[[targets]]\nhost = "{x.address}"\nname = "lab {x.kind} {x.address} {x.delay_ms:g} ms"\n'
        f'category = "Lab"\nport = {LAB_PORT}\nprobes = [{listed}]\n'
        for x in targets
    ]
    path.write_text(CATALOG_HEAD + "".join(entries))
    return path


@dataclass(frozen=True, slots=True)
class CollectRun:
    """One `nettrace collect --once --jsonl` round: its records, wall time and exit."""

    records: tuple[dict, ...]
    wall_s: float
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
    wall_s = time.monotonic() - start
    records = tuple(json.loads(line) for line in done.stdout.splitlines() if line.strip())
    assert done.returncode == 0 and records, f"collect failed ({done.returncode}):\n{done.stderr}"
    return CollectRun(records, wall_s, done.returncode, done.stderr)


def startup_s(lab: Lab) -> float:
    """Wall time of the nettrace command doing nothing (interpreter start and imports) in the
    collector namespace now: subtracted from a round's wall time, so a loaded test machine
    does not fail a timing check that is about the round itself."""
    start = time.monotonic()
    lab.collector.run([str(NETTRACE), "collect", "--help"])
    return time.monotonic() - start

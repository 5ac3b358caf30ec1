"""A targets.toml for tests: region ewr, one "Lab" category and the hosts a test scripts (IP
literals on loopback or in the lab), written so that collect/targets.py loads it."""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

HEAD = """categories = ["Lab"]

[regions.ewr]
city = "Newark"
note = "test collector"
lat = 40.7357
lon = -74.1724
"""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    host: str
    name: str
    port: int
    probes: tuple[str, ...]


def write_catalog(path: Path, entries: Iterable[CatalogEntry]) -> Path:
    """The catalog of entries at path (overwritten); returns path."""
    tables = [
        f'\n[[targets]]\nhost = "{e.host}"\nname = "{e.name}"\ncategory = "Lab"\n'
        f"port = {e.port}\nprobes = {json.dumps(list(e.probes))}\n"
        for e in entries
    ]
    path.write_text(HEAD + "".join(tables))
    return path

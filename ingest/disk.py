"""What the central database takes on its volume and what is left, for the 507 guard and the
ingest server's /metrics (Prometheus text)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

WAL_SUFFIX = "-wal"


@dataclass(frozen=True, slots=True)
class DiskUse:
    db_bytes: int  # the database file and its WAL
    free_bytes: int  # free for an unprivileged writer (the service user) on the volume
    volume_bytes: int


def wal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + WAL_SUFFIX)


def read_disk_use(db_path: Path) -> DiskUse:
    """A few system calls: cheap enough for every push."""
    size = 0
    for path in (db_path, wal_path(db_path)):
        try:
            size += path.stat().st_size
        except FileNotFoundError:
            pass
    st = os.statvfs(db_path.parent)
    return DiskUse(size, st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)


_METRICS = (
    ("nettrace_db_bytes", "Bytes of the central SQLite database and its WAL.", "db_bytes"),
    ("nettrace_db_volume_free_bytes", "Bytes free for the ingest user on the database's volume.",
     "free_bytes"),
    ("nettrace_db_volume_size_bytes", "Size of the database's volume in bytes.", "volume_bytes"),
)


def render_metrics(use: DiskUse, min_free_bytes: int) -> str:
    """Prometheus text exposition (version 0.0.4) of use and the 507 threshold."""
    gauges = [(name, doc, getattr(use, field)) for name, doc, field in _METRICS]
    gauges.append(("nettrace_ingest_min_free_bytes",
                   "Ingest refuses pushes with 507 while the volume has fewer free bytes.",
                   min_free_bytes))
    return "".join(f"# HELP {name} {doc}\n# TYPE {name} gauge\n{name} {value}\n"
                   for name, doc, value in gauges)

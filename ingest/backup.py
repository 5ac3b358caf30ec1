"""A consistent copy of the central file while ingest runs: VACUUM INTO from a read-only
connection (one read transaction, so one snapshot), its pending rollups refreshed, checked,
then moved into place."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from db import connection as db
from ingest.errors import IngestError
from ingest.rollup import flush_rollups


def write_backup(db_path: Path, out: Path) -> int:
    """Copy db_path to out (which must not exist); returns out's size in bytes.
    Raises IngestError when out exists or the copy fails its integrity check."""
    if out.exists():
        raise IngestError(f"{out} exists; a backup never overwrites a file")
    if not db_path.exists():
        raise IngestError(f"{db_path} does not exist")
    tmp = out.with_name(f".{out.name}.partial")
    tmp.unlink(missing_ok=True)
    src = db.connect(db_path, readonly=True)
    try:
        src.execute("VACUUM INTO ?", (str(tmp),))
    finally:
        src.close()
    check = sqlite3.connect(tmp, isolation_level=None)
    try:
        flush_rollups(check)  # the copy's rollups catch up with its raw rows
        verdict = check.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        check.close()
    if verdict != "ok":
        tmp.unlink()
        raise IngestError(f"backup failed its integrity check: {verdict}")
    os.replace(tmp, out)
    return out.stat().st_size

"""SQLite connections for the central file: WAL, migrations, read-only readers."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from db.schema import MIGRATIONS

BUSY_TIMEOUT_MS = 10_000


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the central database. Writers get WAL and pending migrations applied;
    readers open read-only (mode=ro) so they can never change stored data.
    Writers run synchronous=FULL: each commit syncs the WAL before it returns, so what a
    writer has committed (a revoked key, a counted call, an import) survives an OS crash or
    power loss; NORMAL could lose the last commits. The ingest writer gets the same guarantee
    from a sync off its write path (ingest/wal_sync.py)."""
    if readonly:
        conn = sqlite3.connect(readonly_uri(path), uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                               check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        migrate(conn)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def readonly_uri(path: str | Path) -> str:
    """The SQLite URI that opens path read-only (mode=ro), whatever its characters: a '?',
    '#' or '%' in a plain path would be read as the URI's own."""
    return f"file:{quote(str(Path(path).resolve()))}?mode=ro"


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations not yet recorded; return the schema version now in force."""
    with transaction(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT")
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        done = row[0] or 0
        for version, sql in enumerate(MIGRATIONS[done:], start=done + 1):
            for statement in filter(str.strip, sql.split(";")):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    return len(MIGRATIONS)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction: BEGIN IMMEDIATE (the write lock up front, so it never fails half
    way on a busy upgrade), COMMIT on success, ROLLBACK on any exception, which is re-raised."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")

"""SQLite connections for the central file: WAL, migrations, read-only readers."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from collect.schema import MIGRATIONS

BUSY_TIMEOUT_MS = 10_000


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the central database. Writers get WAL and pending migrations applied;
    readers open read-only (mode=ro) so they can never change stored data."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                               check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        migrate(conn)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations not yet recorded; return the schema version now in force."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT")
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        done = row[0] or 0
        for version, sql in enumerate(MIGRATIONS[done:], start=done + 1):
            for statement in filter(str.strip, sql.split(";")):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)

"""`nettrace ingest import`: a spool segment or `--jsonl` output into the central file, with
the endpoint's validation and idempotency. The whole file is validated before anything is
written, so a bad line writes nothing; the message names the line and the field."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from ingest.errors import IngestError
from ingest.server import parse_json
from ingest.store import store_rows
from ingest.validate import ValidationError, validate_record

CHUNK_ROWS = 5_000  # rows per transaction


def read_rows(path: Path, now: float) -> list[tuple]:
    """Every non-blank line of path as a validated row; raises IngestError naming path:line."""
    rows: list[tuple] = []
    rounds: dict[str, int] = {}
    try:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                rows.append(_row(line, number, now, rounds, path))
    except OSError as exc:
        raise IngestError(f"{path}: {exc.strerror}") from None
    return rows


def _row(line: bytes, number: int, now: float, rounds: dict[str, int], path: Path) -> tuple:
    try:
        return validate_record(parse_json(line), now, "$", rounds)
    except ValidationError as exc:
        raise IngestError(f"{path}:{number}: field {exc.path}: {exc.detail}") from None
    except ValueError as exc:
        raise IngestError(f"{path}:{number}: malformed JSON: {exc}") from None


def import_jsonl(conn: sqlite3.Connection, path: Path, now: float) -> tuple[int, int]:
    """Store every result of path. Returns (stored, duplicates)."""
    rows = read_rows(path, now)
    stored = duplicates = 0
    for start in range(0, len(rows), CHUNK_ROWS):
        s, d = store_rows(conn, rows[start:start + CHUNK_ROWS], now)
        stored, duplicates = stored + s, duplicates + d
    return stored, duplicates

"""Stored results in their wire form (ProbeResult.to_json(), schema 1) and as CSV, formatted by
SQLite itself, so a million-row export costs C time, not a Python loop per row.

SQL reading `results` for the export and the stream lives here.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator

STATS = ("rtt_ms", "min_ms", "p95_ms", "max_ms", "mean_ms", "jitter_ms")
_ROUND_ID = "strftime('%Y-%m-%dT%H:%M:%SZ', round_ts, 'unixepoch')"
# Milliseconds only when the time has them, as collect.records.iso_utc writes it.
_TS = ("CASE WHEN ts = CAST(ts AS INTEGER) THEN strftime('%Y-%m-%dT%H:%M:%SZ', ts, 'unixepoch') "
       "ELSE strftime('%Y-%m-%dT%H:%M:%fZ', ts, 'unixepoch') END")
_ID = f"region || '/' || {_ROUND_ID} || '/' || target || '/' || probe"
_OK = "json(CASE WHEN ok THEN 'true' ELSE 'false' END)"
_OBJECT = (f"json_object('schema', 1, 'id', {_ID}, 'target', target, 'region', region, 'probe', "
           f"probe, 'ts', {_TS}, 'round_id', {_ROUND_ID}, 'ok', {_OK}, "
           + "".join(f"'{s}', {s}, " for s in STATS)
           + "'loss', loss, 'samples_ms', json(samples_ms), 'error', error)")
# detail's fields (hops, status, ...) join the object's top level, nulls kept.
_JSON = ("CASE WHEN detail IS NULL OR detail = '{}' THEN obj "
         "ELSE substr(obj, 1, length(obj) - 1) || ',' || substr(detail, 2) END")
_SELECT_JSON = (f"SELECT rowid, region, round_ts, {_JSON} FROM (SELECT rowid, region, round_ts, "
                f"detail, {_OBJECT} AS obj FROM results WHERE WHERE_CLAUSE)")


def _quoted(col: str) -> str:
    return f"""CASE WHEN {col} IS NULL THEN '' ELSE '"' || replace({col}, '"', '""') || '"' END"""


CSV_HEADER = ("id", "target", "region", "probe", "round_id", "ts", "ok", *STATS, "loss",
              "samples_ms", "detail", "error")
_CSV = ("printf('" + ",".join(["%s"] * len(CSV_HEADER)) + "', "
        + ", ".join([_ID, "target", "region", "probe", _ROUND_ID, _TS,
                     "CASE WHEN ok THEN 'true' ELSE 'false' END", *STATS, "loss",
                     _quoted("samples_ms"), _quoted("detail"), _quoted("error")]) + ")")
FETCH_ROWS = 2000
_RANGE = "round_ts >= ? AND round_ts < ? ORDER BY round_ts"


def _batches(cur: sqlite3.Cursor) -> Iterator[bytes]:
    while batch := cur.fetchmany(FETCH_ROWS):
        yield ("\n".join(r[-1] for r in batch) + "\n").encode()


def jsonl_between(conn: sqlite3.Connection, from_s: int, to_s: int) -> Iterator[bytes]:
    """Results whose round starts in [from_s, to_s) as JSON lines, oldest round first, in
    chunks of FETCH_ROWS lines."""
    return _batches(conn.execute(_SELECT_JSON.replace("WHERE_CLAUSE", _RANGE), (from_s, to_s)))


def csv_between(conn: sqlite3.Connection, from_s: int, to_s: int) -> Iterator[bytes]:
    """The same rows as CSV (RFC 4180 quoting), after a header line."""
    yield (",".join(CSV_HEADER) + "\n").encode()
    yield from _batches(conn.execute(f"SELECT {_CSV} FROM results WHERE {_RANGE}", (from_s, to_s)))


def json_after(conn: sqlite3.Connection, rowid: int, limit: int) -> list[tuple[int, str, int, str]]:
    """(rowid, region, round_ts, result JSON) stored after rowid, in ingest order."""
    return conn.execute(_SELECT_JSON.replace("WHERE_CLAUSE", "rowid > ? ORDER BY rowid LIMIT ?"),
                        (rowid, limit)).fetchall()


def last_rowid(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(rowid), 0) FROM results").fetchone()[0]

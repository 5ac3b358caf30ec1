"""Stored result rows back in their wire form (ProbeResult.to_json(), schema 1) and as CSV.

SQL reading `results` for the export and the stream lives here.
"""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator

from collect.records import SCHEMA, iso_utc

STAT_COLUMNS = ("rtt_ms", "min_ms", "p95_ms", "max_ms", "mean_ms", "jitter_ms")
COLUMNS = ("target", "region", "probe", "round_ts", "ts", "ok", *STAT_COLUMNS, "loss",
           "samples_ms", "detail", "error")
_SELECT = f"SELECT rowid, {', '.join(COLUMNS)} FROM results"
CSV_HEADER = ("id", "target", "region", "probe", "round_id", "ts", "ok", *STAT_COLUMNS, "loss",
              "samples_ms", "detail", "error")
FETCH_ROWS = 1000


def result_json(row: tuple) -> dict:
    """A `_SELECT` row (rowid first) as the versioned result object."""
    _, target, region, probe, round_ts, ts, ok, *rest = row
    stats, (loss, samples, detail, error) = rest[:6], rest[6:]
    round_id = iso_utc(round_ts)
    out = {"schema": SCHEMA, "id": f"{region}/{round_id}/{target}/{probe}", "target": target,
           "region": region, "probe": probe, "ts": iso_utc(ts), "round_id": round_id,
           "ok": bool(ok), **dict(zip(STAT_COLUMNS, stats)), "loss": loss,
           "samples_ms": json.loads(samples), "error": error}
    if detail:
        out.update(json.loads(detail))
    return out


def rows_between(conn: sqlite3.Connection, from_s: int, to_s: int) -> Iterator[list[tuple]]:
    """Rows whose round starts in [from_s, to_s), oldest round first, FETCH_ROWS at a time."""
    cur = conn.execute(f"{_SELECT} WHERE round_ts >= ? AND round_ts < ? ORDER BY round_ts",
                       (from_s, to_s))
    while batch := cur.fetchmany(FETCH_ROWS):
        yield batch


def rows_after(conn: sqlite3.Connection, rowid: int, limit: int) -> list[tuple]:
    """Rows stored after rowid (ingest order), at most limit of them."""
    return conn.execute(f"{_SELECT} WHERE rowid > ? ORDER BY rowid LIMIT ?", (rowid, limit)).fetchall()


def last_rowid(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(rowid), 0) FROM results").fetchone()[0]


def jsonl_chunk(rows: list[tuple]) -> bytes:
    return "".join(json.dumps(result_json(r), separators=(",", ":")) + "\n" for r in rows).encode()


def csv_chunk(rows: list[tuple], header: bool) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(CSV_HEADER)
    for r in rows:
        _, target, region, probe, round_ts, ts, ok, *rest = r
        round_id = iso_utc(round_ts)
        w.writerow((f"{region}/{round_id}/{target}/{probe}", target, region, probe, round_id,
                    iso_utc(ts), "true" if ok else "false", *rest))
    return buf.getvalue().encode()

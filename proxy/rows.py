"""Stored results in their wire form (ProbeResult.to_json(), schema 1) and as CSV, formatted by
SQLite itself, so a million-row export costs C time, not a Python loop per row.

SQL reading `results` and `signal_transitions` for the export and the stream lives here.
"""
from __future__ import annotations

import sqlite3

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
_INNER = (f"SELECT rowid, round_ts, region, target, probe, detail, {_OBJECT} AS obj FROM results "
          "WHERE WHERE_CLAUSE")


def _json_select(columns: str, where: str) -> str:
    return f"SELECT {columns}, {_JSON} FROM ({_INNER.replace('WHERE_CLAUSE', where)})"


def _quoted(col: str) -> str:
    return f"""CASE WHEN {col} IS NULL THEN '' ELSE '"' || replace({col}, '"', '""') || '"' END"""


CSV_HEADER = ("id", "target", "region", "probe", "round_id", "ts", "ok", *STATS, "loss",
              "samples_ms", "detail", "error")
_CSV = ("printf('" + ",".join(["%s"] * len(CSV_HEADER)) + "', "
        + ", ".join([_ID, "target", "region", "probe", _ROUND_ID, _TS,
                     "CASE WHEN ok THEN 'true' ELSE 'false' END", *STATS, "loss",
                     _quoted("samples_ms"), _quoted("detail"), _quoted("error")]) + ")")
PAGE_ROWS = 2000
# Keyset paging along the unique index (round_ts, region, target, probe): each page is a seek,
# and each page is one statement run to its end, so no read snapshot outlives a page.
_POSITION = "round_ts, region, target, probe"
_PAGE = (f"({_POSITION}) > (?, ?, ?, ?) AND round_ts < ? ORDER BY {_POSITION} LIMIT ?")
_PAGES = {"jsonl": _json_select(_POSITION, _PAGE),
          "csv": f"SELECT {_POSITION}, {_CSV} FROM results WHERE {_PAGE}"}
Position = tuple[int, str, str, str]  # (round_ts, region, target, probe) of the last row sent


def start_of(from_s: int) -> Position:
    """The position just before every row of the round from_s (regions are never empty)."""
    return (from_s, "", "", "")


def csv_header() -> bytes:
    return (",".join(CSV_HEADER) + "\n").encode()


def page_after(conn: sqlite3.Connection, fmt: str, after: Position, to_s: int,
               limit: int = PAGE_ROWS) -> tuple[bytes, Position | None]:
    """Up to limit results after position `after` whose round starts before to_s, oldest round
    first, as lines of fmt ("csv" or "jsonl"); and the position of the last, or None when the
    range holds no more."""
    rows = conn.execute(_PAGES[fmt], (*after, to_s, limit)).fetchall()
    body = "".join(r[4] + "\n" for r in rows).encode()
    return body, (tuple(rows[-1][:4]) if len(rows) == limit else None)


def json_after(conn: sqlite3.Connection, rowid: int, limit: int) -> list[tuple[int, str, int, str]]:
    """(rowid, region, round_ts, result JSON) stored after rowid, in ingest order."""
    return conn.execute(_json_select("rowid, region, round_ts", "rowid > ? ORDER BY rowid LIMIT ?"),
                        (rowid, limit)).fetchall()


def last_rowid(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(rowid), 0) FROM results").fetchone()[0]


def _json_or_text(col: str) -> str:
    """col as JSON when it holds JSON, else as a string: one bad row never stops the stream."""
    return f"CASE WHEN json_valid({col}) THEN json({col}) ELSE {col} END"


_SIGNAL = ("json_object('id', s.id, 'type', s.type, 'target', s.target, 'region', s.region, "
           f"'probe', s.probe, 'scope', s.scope, 'regions', {_json_or_text('s.regions')}, "
           "'started_at', s.started_at, 'ended_at', s.ended_at, 'status', s.status, "
           "'before_ms', s.before_ms, 'during_ms', s.during_ms, 'peak_z', s.peak_z, "
           "'severity', s.severity, 'in_session', json(CASE WHEN s.in_session THEN 'true' "
           "ELSE 'false' END), 'description', s.description, "
           f"'detail', {_json_or_text('s.detail')}, 'updated_at', s.updated_at)")
_TRANSITIONS = ("SELECT t.seq, json_object('type', t.kind, 'seq', t.seq, 'round_ts', t.round_ts, "
                f"'round_id', strftime('%Y-%m-%dT%H:%M:%SZ', t.round_ts, 'unixepoch'), 'signal', "
                f"{_SIGNAL}) FROM signal_transitions t JOIN signals s ON s.id = t.signal_id "
                "WHERE t.seq > ? ORDER BY t.seq LIMIT ?")


def transitions_after(conn: sqlite3.Connection, seq: int, limit: int) -> list[tuple[int, str]]:
    """(seq, message JSON) of each signal opening or resolution logged after seq, in order:
    {"type": "opened"|"resolved", "seq", "round_ts", "round_id", "signal": the event as stored
    now (times in unix s)}."""
    return conn.execute(_TRANSITIONS, (seq, limit)).fetchall()


def last_seq(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(seq), 0) FROM signal_transitions").fetchone()[0]

"""All SQL of the build, as `fn(conn, ...)` functions. Everything reads, except store_signals.

Rows a collector stamped with a skewed clock (round_ts beyond the reference time, or a probe
start after its round's slot ended) are counted and left out.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from build.signals import Signal
from collect.records import ROUND_S

HOUR_S = 3600
_SKEWED = f"(round_ts > :until OR ts > round_ts + {ROUND_S})"
RAW_COLUMNS = ("target", "region", "probe", "round_ts", "ok", "rtt_ms", "min_ms", "p95_ms",
               "max_ms", "jitter_ms", "loss", "error")


@dataclass(frozen=True, slots=True)
class HourRow:
    target: str
    region: str
    probe: str
    hour_ts: int
    median_ms: float | None
    p95_ms: float | None
    loss_ratio: float
    count: int


def read_latest_round(conn: sqlite3.Connection, until_ts: int) -> int | None:
    """The newest round at or before until_ts (rows from further ahead are clock skew)."""
    row = conn.execute("SELECT max(round_ts) FROM results WHERE round_ts <= ?",
                       (until_ts,)).fetchone()
    return row[0]


def read_region_last_round(conn: sqlite3.Connection, region: str, until_ts: int) -> int | None:
    row = conn.execute("SELECT round_ts FROM results WHERE region = ? AND round_ts <= ? "
                       "ORDER BY round_ts DESC LIMIT 1", (region, until_ts)).fetchone()
    return None if row is None else row[0]


def count_skewed(conn: sqlite3.Connection, since_ts: int, until_ts: int) -> int:
    """Rows in or after the window that a skewed clock stamped; the build leaves them out."""
    sql = f"SELECT count(*) FROM results WHERE round_ts > :since AND {_SKEWED}"
    return conn.execute(sql, {"since": since_ts, "until": until_ts}).fetchone()[0]


def read_raw(conn: sqlite3.Connection, since_ts: int, until_ts: int) -> list[tuple]:
    """Results of the rounds in (since_ts, until_ts], RAW_COLUMNS order, oldest round first."""
    sql = (f"SELECT {', '.join(RAW_COLUMNS)} FROM results "
           f"WHERE round_ts > :since AND round_ts <= :until AND NOT {_SKEWED} "
           "ORDER BY round_ts")
    return conn.execute(sql, {"since": since_ts, "until": until_ts}).fetchall()


def read_fingerprints(conn: sqlite3.Connection, since_ts: int,
                      until_ts: int) -> list[tuple[str, str, int, str | None]]:
    """(target, region, round_ts, fingerprint) of trace results, oldest first."""
    sql = ("SELECT target, region, round_ts, json_extract(detail, '$.fingerprint') "
           "FROM results WHERE probe = 'trace' AND round_ts > :since AND round_ts <= :until "
           f"AND NOT {_SKEWED} ORDER BY round_ts")
    return conn.execute(sql, {"since": since_ts, "until": until_ts}).fetchall()


def read_detail(conn: sqlite3.Connection, target: str, region: str, probe: str,
                round_ts: int) -> dict:
    """The probe-specific fields of one result ({} when it has none)."""
    row = conn.execute("SELECT detail FROM results WHERE target = ? AND region = ? AND probe = ? "
                       "AND round_ts = ?", (target, region, probe, round_ts)).fetchone()
    return json.loads(row[0]) if row and row[0] else {}


def read_latest_certs(conn: sqlite3.Connection, since_ts: int,
                      until_ts: int) -> list[tuple[str, str, int, str | None, str | None]]:
    """(target, region, round_ts, cert_expires, cert_issuer) of the newest TLS result of each
    target in the window."""
    sql = ("SELECT target, region, max(round_ts), json_extract(detail, '$.cert_expires'), "
           "json_extract(detail, '$.cert_issuer') FROM results WHERE probe = 'tls' "
           "AND round_ts > :since AND round_ts <= :until AND detail IS NOT NULL "
           f"AND NOT {_SKEWED} GROUP BY target ORDER BY target")
    return conn.execute(sql, {"since": since_ts, "until": until_ts}).fetchall()


def read_hourly(conn: sqlite3.Connection, since_hour: int, until_hour: int,
                target: str | None = None) -> list[HourRow]:
    """Hourly rollups with since_hour <= hour_ts <= until_hour (one target, or all)."""
    where = "hour_ts >= ? AND hour_ts <= ?" + ("" if target is None else " AND target = ?")
    args = (since_hour, until_hour) + (() if target is None else (target,))
    sql = ("SELECT target, region, probe, hour_ts, median_ms, p95_ms, loss, count FROM hourly "
           f"WHERE {where} ORDER BY target, region, probe, hour_ts")
    return [HourRow(*row) for row in conn.execute(sql, args)]


def read_hour_medians(conn: sqlite3.Connection,
                      hours: list[int]) -> dict[tuple[str, str, str], list[float]]:
    """Hourly medians at the given hours, per (target, region, probe)."""
    marks = ", ".join("?" * len(hours))
    sql = f"SELECT target, region, probe, median_ms FROM hourly WHERE hour_ts IN ({marks})"
    out: dict[tuple[str, str, str], list[float]] = {}
    for target, region, probe, median in conn.execute(sql, hours):
        if median is not None:
            out.setdefault((target, region, probe), []).append(median)
    return out


def read_late_marks(conn: sqlite3.Connection) -> dict[str, float]:
    """Per target, when a result last arrived after its hour had ended: completed hours of
    that target's rollups changed then (cache keys of hourly history use it)."""
    sql = (f"SELECT target, max(received_at) FROM results WHERE received_at >= "
           f"(round_ts / {HOUR_S}) * {HOUR_S} + {HOUR_S} GROUP BY target")
    return dict(conn.execute(sql).fetchall())


def read_first_round(conn: sqlite3.Connection) -> int | None:
    return conn.execute("SELECT min(round_ts) FROM results").fetchone()[0]


def count_day_results(conn: sqlite3.Connection, day_ts: int) -> int:
    return conn.execute("SELECT count(*) FROM results WHERE round_ts >= ? AND round_ts < ?",
                        (day_ts, day_ts + 86400)).fetchone()[0]


def read_day_results(conn: sqlite3.Connection, day_ts: int) -> list[tuple]:
    """RAW_COLUMNS of one UTC day's results, in a stable order."""
    sql = (f"SELECT {', '.join(RAW_COLUMNS)} FROM results WHERE round_ts >= ? AND round_ts < ? "
           "ORDER BY round_ts, target, region, probe")
    return conn.execute(sql, (day_ts, day_ts + 86400)).fetchall()


def store_signals(conn: sqlite3.Connection, signals: list[Signal]) -> int:
    """Insert signals not stored yet (a rebuild of the same round adds nothing)."""
    rows = [(g.type, g.target, g.region, g.probe, g.ts, g.value, g.threshold, g.severity,
             g.scope, json.dumps(list(g.regions)), g.description, _signal_detail(g))
            for g in signals]
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = conn.total_changes
        conn.executemany("INSERT OR IGNORE INTO signals VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return conn.total_changes - before


def read_signals(conn: sqlite3.Connection, since_ts: int, until_ts: int) -> list[Signal]:
    """Stored signals fired in [since_ts, until_ts], newest first."""
    sql = ("SELECT type, target, region, probe, ts, value, threshold, severity, scope, regions, "
           "description, detail FROM signals WHERE ts >= ? AND ts <= ? "
           "ORDER BY ts DESC, type, target, probe, region")
    out = []
    for *head, regions, text, detail in conn.execute(sql, (since_ts, until_ts)):
        route = json.loads(detail) if detail else {}
        old, new = route.get("old_hops"), route.get("new_hops")
        out.append(Signal(*head, tuple(json.loads(regions)), text,
                          None if old is None else tuple(old), None if new is None else tuple(new),
                          route.get("old_fingerprint"), route.get("new_fingerprint")))
    return out


def _signal_detail(g: Signal) -> str | None:
    if g.old_hops is None and g.new_hops is None:
        return None
    return json.dumps({"old_hops": list(g.old_hops or ()), "new_hops": list(g.new_hops or ()),
                       "old_fingerprint": g.old_fingerprint, "new_fingerprint": g.new_fingerprint})

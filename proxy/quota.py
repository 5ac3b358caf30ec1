"""Calls per key per UTC day, exact under concurrency and persisted before each answer.

One event loop decides admission from in-memory counts (no await between read and increment,
so 500 concurrent requests with 100 left admit exactly 100); admitted calls are written to the
usage table in group commits (one transaction per batch, in a thread) and a request is answered
only once its call is stored, so a restart resumes from the stored counts. A lock file keeps a
second proxy process from deciding on the same database.
"""
from __future__ import annotations

import asyncio
import fcntl
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from api.contract import DAY_S
from db.connection import transaction
from proxy.errors import ProxyError

_UPSERT = ("INSERT INTO usage (key_id, day, calls) VALUES (?, ?, ?) "
           "ON CONFLICT (key_id, day) DO UPDATE SET calls = calls + excluded.calls")


@dataclass(frozen=True, slots=True)
class Verdict:
    admitted: bool
    limit: int | None  # None: unlimited
    used: int  # calls counted today, this one included when admitted
    reset_ts: int  # unix s of the next UTC midnight, when the count starts again

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)


def utc_day(now_s: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now_s))


def next_midnight(now_s: float) -> int:
    return (int(now_s) // DAY_S + 1) * DAY_S


class QuotaBook:
    """Daily call counts of every key; charge() is the only way a call is admitted."""

    def __init__(self, writer: sqlite3.Connection, reader: sqlite3.Connection):
        self._writer = writer  # used only by the flush thread, one batch at a time
        self._reader = reader  # used only on the event loop
        self._counts: dict[tuple[int, str], int] = {}
        self._pending: dict[tuple[int, str], int] = {}
        self._batch: asyncio.Future | None = None
        self._flushing = False
        self._day = ""
        self._day_number = -1

    async def charge(self, key_id: int, limit: int | None, now_s: float) -> Verdict:
        """Count one call of key_id today unless limit is reached; returns once it is stored.
        Raises sqlite3.Error (and counts nothing) when the database cannot store it."""
        if int(now_s) // DAY_S != self._day_number:  # forget yesterday's counts; they are stored
            self._counts, self._day, self._day_number = {}, utc_day(now_s), int(now_s) // DAY_S
        day = self._day
        k = (key_id, day)
        used = self._counts.get(k)
        if used is None:
            used = self._stored_calls(k)
        reset = next_midnight(now_s)
        if limit is not None and used >= limit:
            self._counts[k] = used
            return Verdict(False, limit, used, reset)
        self._counts[k] = used + 1
        self._pending[k] = self._pending.get(k, 0) + 1
        await self._next_batch()
        return Verdict(True, limit, used + 1, reset)

    def _stored_calls(self, k: tuple[int, str]) -> int:
        row = self._reader.execute("SELECT calls FROM usage WHERE key_id = ? AND day = ?", k).fetchone()
        return row[0] if row else 0

    def _next_batch(self) -> asyncio.Future:
        if self._batch is None:
            self._batch = asyncio.get_running_loop().create_future()
            if not self._flushing:
                self._flushing = True
                asyncio.get_running_loop().create_task(self._flush())
        return self._batch

    async def _flush(self) -> None:
        try:
            while self._batch is not None:
                batch, self._batch = self._batch, None
                pending, self._pending = self._pending, {}
                try:
                    await asyncio.to_thread(self._write, pending)
                except sqlite3.Error as exc:
                    for k, n in pending.items():  # not stored, so not counted
                        if k in self._counts:
                            self._counts[k] -= n
                    batch.set_exception(exc)
                else:
                    batch.set_result(None)
        finally:
            self._flushing = False

    def _write(self, pending: dict[tuple[int, str], int]) -> None:
        with transaction(self._writer):
            self._writer.executemany(_UPSERT, [(k[0], k[1], n) for k, n in pending.items()])


def hold_quota_lock(db_path: Path):
    """An exclusive lock beside the database (kept open for the process's life): quotas are
    exact only when one process decides them. ProxyError if another proxy holds it."""
    lock = open(f"{db_path}.proxy-lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise ProxyError(f"another `nettrace serve` already keeps the quotas of {db_path}") from None
    return lock


@dataclass(frozen=True, slots=True)
class UsageRow:
    key_id: int
    prefix: str
    owner: str
    tier: str
    day: str  # UTC, YYYY-MM-DD
    calls: int


def usage_since(conn: sqlite3.Connection, first_day: str, key_id: int | None = None) -> list[UsageRow]:
    """Stored calls per key and UTC day from first_day on, newest day first."""
    rows = conn.execute(
        "SELECT k.id, k.prefix, k.owner, k.tier, u.day, u.calls FROM usage u "
        "JOIN api_keys k ON k.id = u.key_id WHERE u.day >= ? AND (? IS NULL OR k.id = ?) "
        "ORDER BY u.day DESC, k.id", (first_day, key_id, key_id)).fetchall()
    return [UsageRow(*r) for r in rows]

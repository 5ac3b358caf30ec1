"""QuotaBook in process: exact admission, stored before answering, one decider per database."""
from __future__ import annotations

import asyncio
import sqlite3

import pytest

from db.connection import connect
from proxy.errors import ProxyError
from proxy.quota import QuotaBook, hold_quota_lock, next_midnight, utc_day

NOW_S = 1_795_600_000.0  # 2026-11-25T18:26:40Z


def _book(tmp_path):
    db = tmp_path / "q.sqlite"
    writer = connect(db)
    writer.execute("INSERT INTO api_keys (id, prefix, digest, tier, owner, created_at) "
                   "VALUES (1, 'nt_x', x'01', 'free', 'o', 0)")
    return QuotaBook(writer, connect(db, readonly=True)), writer


def test_concurrent_charges_admit_exactly_the_limit_and_store_them(tmp_path):
    book, writer = _book(tmp_path)

    async def burst():
        return await asyncio.gather(*(book.charge(1, 100, NOW_S) for _ in range(500)))
    verdicts = asyncio.run(burst())
    assert sum(v.admitted for v in verdicts) == 100
    assert writer.execute("SELECT calls FROM usage").fetchone()[0] == 100
    assert {v.remaining for v in verdicts if not v.admitted} == {0}


def test_a_call_the_database_cannot_store_is_not_counted(tmp_path):
    book, writer = _book(tmp_path)
    blocker = sqlite3.connect(tmp_path / "q.sqlite", timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    writer.execute("PRAGMA busy_timeout=50")

    async def one():
        return await book.charge(1, 100, NOW_S)
    with pytest.raises(sqlite3.OperationalError):
        asyncio.run(one())
    blocker.rollback()
    assert asyncio.run(one()).used == 1


def test_utc_day_and_reset_fall_on_midnight():
    assert utc_day(NOW_S) == "2026-11-25"
    assert next_midnight(NOW_S) == 1_795_651_200  # 2026-11-26T00:00:00Z


def test_a_second_proxy_on_the_same_database_is_refused(tmp_path):
    lock = hold_quota_lock(tmp_path / "q.sqlite")
    with pytest.raises(ProxyError, match="already keeps the quotas"):
        hold_quota_lock(tmp_path / "q.sqlite")
    lock.close()
    hold_quota_lock(tmp_path / "q.sqlite").close()

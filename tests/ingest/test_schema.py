"""Forward migrations: a database made by an older release keeps every row (and its rowid,
which the build and the stream read by) and gains what the newer schema adds."""
from __future__ import annotations

import sqlite3

from build.read.queries import extras_sql
from collect.records import COLUMNS
from db import connection as db, schema
from ingest.store import store_batch
from ingest.validate import validate_record
from tests.ingest.ingest_fixtures import results

HOUR = 1_795_644_000
OLD_COLUMNS = COLUMNS[:COLUMNS.index("sent")]  # what a row held before schema 8


def store_as_before_8(conn: sqlite3.Connection, records: list[dict]) -> None:
    """records stored the way a release before schema 8 stored them."""
    rows = [validate_record(r, None)[:len(OLD_COLUMNS)] + (0.0,) for r in records]
    conn.executemany(f"INSERT INTO results ({', '.join(OLD_COLUMNS)}, received_at) "
                     f"VALUES ({', '.join('?' * (len(OLD_COLUMNS) + 1))})", rows)


def traced(records: list[dict]) -> list[dict]:
    """records with a fingerprint on their traces, as a route-tracing collector sends."""
    return [{**r, "fingerprint": f"fp-{r['target']}"} if r["probe"] == "trace" else r
            for r in records]


def old_rows(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(f"SELECT rowid, {', '.join(OLD_COLUMNS)}, received_at FROM results "
                        "ORDER BY rowid").fetchall()


def test_migration_5_rekeys_results_time_first_and_keeps_rows_and_rowids(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    monkeypatch.setattr(db, "MIGRATIONS", schema.MIGRATIONS[:4])  # the release before 5
    old = db.connect(path)
    for i, region in enumerate(["sin", "ewr", "sin"]):
        store_as_before_8(old, results(region, HOUR + i * 900))
    old.execute("DELETE FROM results WHERE rowid % 5 = 0")  # rowids with gaps, as after a prune
    before = old_rows(old)
    old.close()
    monkeypatch.setattr(db, "MIGRATIONS", schema.MIGRATIONS)
    new = db.connect(path)
    assert new.execute("SELECT max(version) FROM schema_version").fetchone() == (len(schema.MIGRATIONS),)
    assert old_rows(new) == before
    key = [r[2] for r in new.execute("PRAGMA index_info(sqlite_autoindex_results_1)")]
    assert key == ["round_ts", "region", "target", "probe"]
    assert {r[1] for r in new.execute("PRAGMA index_list(results)")} == {
        "sqlite_autoindex_results_1", "results_region"}
    assert new.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    fresh = results("lhr", HOUR)
    assert store_batch(new, fresh) == (len(fresh), 0)
    assert new.execute("SELECT min(rowid) FROM results WHERE region = 'lhr'").fetchone()[0] > before[-1][0]


def test_a_replay_after_the_migration_is_still_a_duplicate(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    monkeypatch.setattr(db, "MIGRATIONS", schema.MIGRATIONS[:4])
    old = db.connect(path)
    batch = results("ewr", HOUR)
    store_as_before_8(old, batch)
    old.close()
    monkeypatch.setattr(db, "MIGRATIONS", schema.MIGRATIONS)
    assert store_batch(db.connect(path), batch) == (0, len(batch))



def test_rows_stored_before_8_read_the_same_sample_counts_and_fingerprints_as_rows_after(
        tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    monkeypatch.setattr(db, "MIGRATIONS", schema.MIGRATIONS[:7])
    old = db.connect(path)
    store_as_before_8(old, traced(results("ewr", HOUR)))
    readonly = db.connect(path, readonly=True)  # a reader never migrates: the JSON alone
    query = "SELECT region, probe, {sent}, {fingerprint} FROM results ORDER BY probe"
    before_8 = readonly.execute(query.format(**extras_sql(readonly))).fetchall()
    readonly.close()
    old.close()
    monkeypatch.setattr(db, "MIGRATIONS", schema.MIGRATIONS)
    new = db.connect(path)
    store_batch(new, traced(results("sin", HOUR)))
    assert new.execute("SELECT count(*) FROM results WHERE sent IS NULL").fetchone()[0] == len(
        before_8)  # not rewritten: every reader falls back to the JSON for them
    got = new.execute(query.format(**extras_sql(new))).fetchall()
    assert [r[1:] for r in got if r[0] == "ewr"] == [r[1:] for r in before_8]
    assert [r[1:] for r in got if r[0] == "sin"] == [r[1:] for r in before_8]
    assert any(r[3] for r in before_8) and all(r[2] > 0 for r in before_8)

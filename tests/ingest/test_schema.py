"""Forward migrations: a database made by an older release keeps every row (and its rowid,
which the build and the stream read by) and gains what the newer schema adds."""
from __future__ import annotations

from db import connection as db, schema
from ingest.store import store_batch
from tests.ingest.ingest_fixtures import results

HOUR = 1_795_644_000


def test_migration_5_rekeys_results_time_first_and_keeps_rows_and_rowids(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    monkeypatch.setattr(db, "MIGRATIONS", schema.MIGRATIONS[:4])  # the release before 5
    old = db.connect(path)
    for i, region in enumerate(["sin", "ewr", "sin"]):
        store_batch(old, results(region, HOUR + i * 900))
    old.execute("DELETE FROM results WHERE rowid % 5 = 0")  # rowids with gaps, as after a prune
    before = old.execute("SELECT rowid, * FROM results ORDER BY rowid").fetchall()
    old.close()
    monkeypatch.setattr(db, "MIGRATIONS", schema.MIGRATIONS)
    new = db.connect(path)
    assert new.execute("SELECT max(version) FROM schema_version").fetchone() == (len(schema.MIGRATIONS),)
    assert new.execute("SELECT rowid, * FROM results ORDER BY rowid").fetchall() == before
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
    stored, _ = store_batch(old, batch)
    old.close()
    monkeypatch.setattr(db, "MIGRATIONS", schema.MIGRATIONS)
    assert store_batch(db.connect(path), batch) == (0, stored)


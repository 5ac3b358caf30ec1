"""db/bulk.py, the backtest's bulk reader: typed Arrow columns from any path, NULL reals as
NaN, a read-only connection that changes no byte of the file, errors naming the file."""
from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from db.bulk import read_table, sql_text
from db.connection import connect


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.suffix != ".sqlite-shm"}


def make_db(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (name TEXT NOT NULL, ms REAL, n INTEGER) STRICT")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)",
                         [("a", None, 1), ("O'Brien", 2.5, 2), ("c", 3.0, 3)])
    conn.close()


def test_columns_come_typed_and_a_null_real_as_nan(tmp_path):
    make_db(tmp_path / "x.sqlite")
    table = read_table(tmp_path / "x.sqlite", "SELECT name, ms, n FROM t ORDER BY n")
    assert table.column("name").to_pylist() == ["a", "O'Brien", "c"]
    np.testing.assert_array_equal(table.column("ms").to_numpy(), [np.nan, 2.5, 3.0])
    assert table.column("n").to_numpy().dtype == np.int64


def test_a_text_literal_matches_itself_quotes_and_all(tmp_path):
    make_db(tmp_path / "x.sqlite")
    for text, rows in (("O'Brien", [2]), ("x' OR '1'='1", [])):
        sql = f"SELECT n FROM t WHERE name = {sql_text(text)}"
        assert read_table(tmp_path / "x.sqlite", sql).column("n").to_pylist() == rows


def test_a_path_with_a_space_percent_hash_and_question_mark_is_read_by_both_readers(tmp_path):
    folder = tmp_path / "odd dir %41 #1 ?x=y"
    folder.mkdir()
    make_db(folder / "x.sqlite")
    assert read_table(folder / "x.sqlite", "SELECT count(*) AS rows FROM t").num_rows == 1
    conn = connect(folder / "x.sqlite", readonly=True)  # the stdlib reader, the same URI
    try:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (3,)
    finally:
        conn.close()


def test_reading_a_copy_whose_wal_was_never_checkpointed_changes_no_byte_of_it(tmp_path):
    live, copy = tmp_path / "live", tmp_path / "copy"
    live.mkdir()
    copy.mkdir()
    writer = sqlite3.connect(live / "x.sqlite")
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (n INTEGER)")
    writer.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    writer.commit()
    for name in ("x.sqlite", "x.sqlite-wal"):  # a copy taken while ingest ran
        shutil.copy(live / name, copy / name)
    writer.close()
    before = digests(copy)
    counted = read_table(copy / "x.sqlite", "SELECT count(*) AS n FROM t")
    assert counted.column("n").to_pylist() == [1000]
    assert digests(copy) == before  # a read-write connection would checkpoint, then drop the WAL


def test_an_sqlite_error_names_the_file(tmp_path):
    make_db(tmp_path / "x.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match=r"x\.sqlite: .*no such table: missing"):
        read_table(tmp_path / "x.sqlite", "SELECT n FROM missing")

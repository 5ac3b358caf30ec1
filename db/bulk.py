"""Bulk reads of the central file as Arrow columns, for the backtest's tens of millions of rows:
connectorx steps SQLite in Rust and fills each column without a Python object per value, half
the CPU a row of a row cursor (sqlite3's or apsw's). Imported by the backtest alone: pyarrow is
heavy for the processes that share central's 512 MB."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

import connectorx
import pyarrow

from db.connection import readonly_uri


def read_table(path: Path, sql: str) -> pyarrow.Table:
    """The rows of one SELECT, on a read-only connection of its own (a snapshot of its own).
    connectorx binds no parameters: sql carries its values inline, integers or sql_text().
    A column's type comes from its declared type or its first row: an expression that can be
    NULL needs a non-NULL default. No rows: every column is text. Raises
    sqlite3.DatabaseError naming the file."""
    # the read-only SQLite URI, quoted again as the path of connectorx's URL, which it unquotes
    url = f"sqlite://{quote(readonly_uri(path), safe='/')}"
    try:
        return connectorx.read_sql(url, sql, return_type="arrow")
    except RuntimeError as exc:  # connectorx reports every SQLite error as one
        raise sqlite3.DatabaseError(f"{path}: {exc}") from exc


def sql_text(value: str) -> str:
    """value as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"

"""The one state a build carries to the next: `state.npz` in the state folder, holding the
checkpoint (the newest results row the build read) and each part's saved work: the raw
window's columns, the week's hourly medians, the season's rollups, the long-history index, the
output manifest, the last round the signal detector judged, the trading-session table
("sessions") and 30 days of session rollups ("session_hours").

It is an optimisation, never the truth (a test deletes it and gets the same bytes): a missing,
corrupt or older-version file, or one whose checkpoint row the database no longer holds as it
was (another or a rebuilt database), gives None and the build reads everything again. The read
stage opens and checks it once and reads each part's columns as it gets to the part. The columns are staged into a temporary file as soon as compute
is done (the build then holds them no longer); the write stage adds the JSON parts after the
outputs and renames the file into place, atomically.
"""
from __future__ import annotations

import json
import os
import sqlite3
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from build.read.queries import read_last_row, read_row_identity

STATE_VERSION = 2  # 2: the window's texts as codes
STATE_FILE = "state.npz"
_META = "meta"
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile)  # a damaged or foreign file


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The newest results row at read time: rows with a higher rowid arrived later, and the
    identity (target/region/probe/round) tells a replaced database or a reused rowid apart."""

    rowid: int
    identity: str


@dataclass(frozen=True, slots=True)
class Part:
    """One part's saved work: JSON-able fields and numpy columns."""

    meta: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CarriedState:
    """The previous build's state. A part's columns are read from the file when the part is
    asked for, so the build holds one part's old and new columns at a time, not every part's."""

    checkpoint: Checkpoint | None  # None: the database held no results
    parts: dict[str, dict] = field(default_factory=dict)  # JSON-able, by part name
    columns: np.lib.npyio.NpzFile | None = None  # by "part.column"; open in open_state's block

    def part(self, name: str) -> Part | None:
        """None also when the part's columns cannot be read (its reader reads everything)."""
        if name not in self.parts:
            return None
        prefix = f"{name}."
        store = self.columns
        try:
            arrays = {} if store is None else {k[len(prefix):]: store[k] for k in store.files
                                               if k.startswith(prefix)}
        except _UNREADABLE:
            return None
        return Part(self.parts[name], arrays)


def read_checkpoint(conn: sqlite3.Connection) -> Checkpoint | None:
    last = read_last_row(conn)
    return None if last is None else Checkpoint(*last)


@contextmanager
def open_state(conn: sqlite3.Connection,
               state_dir: Path | None) -> Iterator[CarriedState | None]:
    """The previous build's state if it continues this database, else None; its columns can be
    read until the block ends."""
    store = None if state_dir is None else _open(Path(state_dir) / STATE_FILE)
    try:
        state = None if store is None else _state(store)
        check = None if state is None else state.checkpoint
        if check is not None and read_row_identity(conn, check.rowid) != check.identity:
            state = None
        yield state
    finally:
        if store is not None:
            store.close()


def stage_state(state_dir: Path | None, parts: dict[str, Part]) -> Path | None:
    """parts' columns written to a temporary file in state_dir (None: no state kept), for
    commit_state to complete; its caller removes it with discard_state if the build fails."""
    if state_dir is None:
        return None
    folder = Path(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / f".{STATE_FILE}.{os.getpid()}.npz"
    try:
        with zipfile.ZipFile(staged, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, part in parts.items():
                for column, values in part.arrays.items():
                    _write_array(zf, f"{name}.{column}", values)
    except BaseException:
        discard_state(staged)
        raise
    return staged


def commit_state(staged: Path | None, checkpoint: Checkpoint | None,
                 metas: dict[str, dict]) -> None:
    """The staged file completed with each part's JSON fields (by part name) and renamed over
    the state file."""
    if staged is None:
        return
    meta = {"version": STATE_VERSION, "parts": metas,
            "checkpoint": None if checkpoint is None else [checkpoint.rowid,
                                                           checkpoint.identity]}
    with zipfile.ZipFile(staged, "a", zipfile.ZIP_STORED, allowZip64=True) as zf:
        _write_array(zf, _META, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    os.replace(staged, staged.parent / STATE_FILE)


def discard_state(staged: Path | None) -> None:
    if staged is not None:
        staged.unlink(missing_ok=True)


def _write_array(zf: zipfile.ZipFile, name: str, values: np.ndarray) -> None:
    """One member as np.savez writes it, so np.load reads the file."""
    with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.asanyarray(values), allow_pickle=False)


def _open(path: Path) -> np.lib.npyio.NpzFile | None:
    try:
        store = np.load(path, allow_pickle=False)
    except _UNREADABLE:
        return None
    return store if isinstance(store, np.lib.npyio.NpzFile) else None


def _state(store: np.lib.npyio.NpzFile) -> CarriedState | None:
    try:
        meta = json.loads(store[_META].tobytes())
        if not isinstance(meta, dict) or meta.get("version") != STATE_VERSION:
            return None
        check = meta.get("checkpoint")
        return CarriedState(None if check is None else Checkpoint(int(check[0]), str(check[1])),
                            dict(meta.get("parts", {})), store)
    except (*_UNREADABLE, KeyError, TypeError, IndexError):
        return None

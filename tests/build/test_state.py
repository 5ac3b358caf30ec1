"""The build state file (build/read/state.py): columns staged early and completed by the write
stage read back part by part; a damaged file or part is no state; a failed build leaves the old
state and no temporary file."""
from __future__ import annotations


import numpy as np
import pytest

from build.pipeline import BuildOptions, run_build
from build.read.inputs import BuildClock
from build.read.state import (STATE_FILE, Checkpoint, Part, commit_state, open_state,
                              stage_state)
from db.connection import connect
from tests.factories import make_db


@pytest.fixture
def fx(tmp_path):
    return make_db(tmp_path, rounds=8)


def _checkpoint(fx) -> Checkpoint:
    conn = connect(fx.path, readonly=True)
    try:
        row = conn.execute("SELECT rowid, target, region, probe, round_ts FROM results "
                           "ORDER BY rowid DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    return Checkpoint(row[0], "/".join(map(str, row[1:])))


def test_staged_columns_and_later_json_parts_read_back_part_by_part(fx, tmp_path):
    state = tmp_path / "state"
    columns = {"a": np.arange(5, dtype=np.int32), "b": np.array([1.5, np.nan])}
    staged = stage_state(state, {"window": Part({"keys": [["h", "r", "icmp"]]}, columns)})
    commit_state(staged, _checkpoint(fx), {"window": {"keys": [["h", "r", "icmp"]]},
                                           "events": {"round": 900}})
    assert not staged.exists() and (state / STATE_FILE).is_file()
    conn = connect(fx.path, readonly=True)
    try:
        with open_state(conn, state) as carried:
            window = carried.part("window")
            assert carried.part("events") == Part({"round": 900})
            assert carried.part("history") is None
    finally:
        conn.close()
    assert window.meta == {"keys": [["h", "r", "icmp"]]}
    assert window.arrays["a"].dtype == np.int32
    np.testing.assert_array_equal(window.arrays["a"], columns["a"])
    np.testing.assert_array_equal(window.arrays["b"], columns["b"])


@pytest.mark.parametrize("damage", [b"", b"not a zip file", b"PK\x03\x04 cut short"])
def test_a_damaged_state_file_is_no_state(fx, tmp_path, damage):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / STATE_FILE).write_bytes(damage)
    conn = connect(fx.path, readonly=True)
    try:
        with open_state(conn, tmp_path / "state") as carried:
            assert carried is None
    finally:
        conn.close()


def test_a_failed_build_keeps_the_old_state_and_leaves_no_temporary_file(fx, tmp_path):
    cache = tmp_path / "cache"
    opts = BuildOptions(fx.path, tmp_path / "public", tmp_path / "private", fx.catalog,
                        BuildClock(fx.round_ts + 30), cache)
    run_build(opts)
    before = (cache / STATE_FILE).read_bytes()
    (tmp_path / "blocked").write_text("a file where the private folder's parent must be")
    with pytest.raises(OSError):
        run_build(BuildOptions(fx.path, tmp_path / "public", tmp_path / "blocked" / "private",
                               fx.catalog, BuildClock(fx.round_ts + 30), cache))
    assert (cache / STATE_FILE).read_bytes() == before
    assert sorted(p.name for p in cache.iterdir() if p.is_file()) == [STATE_FILE]

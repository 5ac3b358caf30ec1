"""The writer: refuses clashing or escaping paths, and swaps a whole tree in at once."""
from __future__ import annotations

import os

import pytest

from build.errors import BuildError
from build.write import Reused, merge_outputs, write_tree
from tests.conftest import wait_for


def test_two_outputs_at_one_path_are_refused():
    with pytest.raises(BuildError, match="two outputs at one path: a.json"):
        merge_outputs({"a.json": b"1"}, {"a.json": b"2"})


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", "a//b", "./a", "", "a\\b",
                                  "a/"])
def test_paths_outside_the_folder_or_not_normalised_are_refused(tmp_path, path):
    with pytest.raises(BuildError):
        write_tree({path: b"x"}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_path_that_is_both_file_and_folder_is_refused(tmp_path):
    with pytest.raises(BuildError, match="both a file and a folder: widget/a"):
        write_tree({"widget/a": b"1", "widget/a/b.svg": b"2"}, tmp_path / "out")


def test_the_new_tree_replaces_the_old_one_entirely(tmp_path):
    out = tmp_path / "out"
    write_tree({"old.txt": b"old", "keep/x": b"1"}, out)
    assert write_tree({"keep/x": b"2", "new.txt": b"new"}, out) == 2
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "keep/x", "new.txt"]
    assert (out / "keep/x").read_bytes() == b"2"
    # no tree is left behind to remove: the one swapped out is the next write's spare
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.spare", "out"]


def _wait_until_only(folder, names: list[str], timeout_s: float = 10.0) -> None:
    wait_for(lambda: sorted(p.name for p in folder.iterdir()) == names, timeout_s,
             f"only {names} in {folder}", 0.02)


def test_trees_left_by_a_crashed_build_are_removed_by_the_next_one(tmp_path):
    out = tmp_path / "out"
    write_tree({"a.json": b"1"}, out)
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)  # a pid no process has now: its build died
    (tmp_path / f".out.tmp-{dead}" / "deep").mkdir(parents=True)
    (tmp_path / f".out.tmp-{dead}" / "deep" / "x.json").write_bytes(b"half")
    busy = tmp_path / f".out.tmp-{os.getpid()}-elsewhere"  # not a temporary tree name
    busy.mkdir()
    write_tree({"a.json": b"2"}, out)
    _wait_until_only(tmp_path, sorted([".out.spare", "out", busy.name]))
    assert (out / "a.json").read_bytes() == b"2"


def test_the_temporary_tree_of_a_running_build_is_left_alone(tmp_path):
    out = tmp_path / "out"
    running = tmp_path / f".out.tmp-{os.getppid()}"  # the test runner's parent is alive
    running.mkdir()
    write_tree({"a.json": b"1"}, out)
    write_tree({"a.json": b"2"}, out)
    _wait_until_only(tmp_path, sorted([".out.spare", "out", running.name]))


def _files(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_spare_tree_holding_anything_becomes_exactly_the_outputs(tmp_path):
    out, spare, outside = tmp_path / "out", tmp_path / ".out.spare", tmp_path / "outside.txt"
    write_tree({"x": b"0"}, out)
    write_tree({"x": b"1"}, out)  # the first tree is the spare now; fill it with junk
    outside.write_bytes(b"not ours")
    (spare / "a").mkdir()  # a folder where a file goes
    (spare / "a" / "deep.json").write_bytes(b"junk")
    (spare / "b").write_bytes(b"a file where a folder goes")
    (spare / "c").mkdir()
    (spare / "c" / "stale.json").write_bytes(b"gone")
    (spare / "d.json").symlink_to(outside)
    (spare / "same.json").write_bytes(b"same")
    (spare / "other.json").write_bytes(b"old bytes")
    outputs = {"a": b"A", "b/c.json": b"BC", "d.json": b"D", "same.json": b"same",
               "other.json": b"new bytes", "x": b"2"}
    write_tree(outputs, out)
    assert _files(out) == outputs
    assert not (out / "d.json").is_symlink() and outside.read_bytes() == b"not ours"
    assert sorted(p.name for p in out.iterdir()) == sorted(["a", "b", "d.json", "same.json",
                                                            "other.json", "x"])


def test_unchanged_files_keep_their_inode_and_the_live_tree_never_changes(tmp_path):
    out = tmp_path / "out"
    write_tree({"a": b"1", "b": b"1"}, out)
    write_tree({"a": b"1", "b": b"2"}, out)
    inode = (out / "a").stat().st_ino
    write_tree({"a": b"1", "b": b"3"}, out)
    assert (out / "a").stat().st_ino == inode  # linked, not made again
    write_tree({"a": b"4", "b": b"3"}, out)  # the spare's "a" is the live tree's "a"
    assert _files(out) == {"a": b"4", "b": b"3"}
    assert _files(tmp_path / ".out.spare") == {"a": b"1", "b": b"3"}  # the tree as it was live


def test_a_failed_build_leaves_the_old_tree_untouched(tmp_path):
    out = tmp_path / "out"
    write_tree({"index.json": b"v1"}, out)
    with pytest.raises(BuildError):
        write_tree({"index.json": b"v2", "../escape": b"x"}, out)
    assert (out / "index.json").read_bytes() == b"v1"


def test_reused_outputs_are_linked_from_the_old_tree_not_rewritten(tmp_path):
    out = tmp_path / "out"
    write_tree({"big.json": b"x" * 10_000, "small.json": b"1"}, out)
    inode = (out / "big.json").stat().st_ino
    write_tree({"big.json": Reused(out / "big.json"), "small.json": b"2"}, out)
    assert (out / "big.json").stat().st_ino == inode
    assert (out / "big.json").read_bytes() == b"x" * 10_000

"""The only stage of the build that writes: outputs into a temporary folder beside the output
folder, then one atomic swap (renameat2 RENAME_EXCHANGE), so a crash never leaves a half site;
then the build's signal events into the database (write_events). Refuses two outputs at one path and
any path that would land outside the folder.

The temporary folder is not built from nothing: the tree the previous swap took out is kept as
`.{name}.spare` and brought up to date, keeping every file that already holds the right bytes.
Creating a file (a new inode) costs ~0.5 ms on the build machine, against ~25 us to compare a
small one, and most files of a build are unchanged. Nothing outside the build reads the spare:
a changed file the spare alone links to is rewritten in place, any other is replaced. The
temporary trees of builds that died go to a detached low-priority rm.
"""
from __future__ import annotations

import ctypes
import glob
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from build.compute.build_events import BuildEvents
from build.errors import BuildError
from build.read.queries import store_events
from db.connection import connect

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
SPARE = "spare"
# sh starts rm in the background and exits: rm outlives the build, and no child is left unwaited
_REMOVE = ("sh", "-c", 'nice -n 10 rm -rf -- "$@" &', "sh")


@dataclass(frozen=True, slots=True)
class Reused:
    """An output whose bytes the previous build already wrote at `source`: hard-linked into the
    new tree instead of read and written again (the big private files)."""

    source: Path


@dataclass(frozen=True, slots=True)
class Deferred:
    """An output rendered only when the writer reaches it: the biggest ones (the long
    histories, ~1 MB a target) are then never all in memory at once."""

    make: Callable[[], bytes]


Output = bytes | Reused | Deferred


def merge_outputs(*parts: dict[str, Output]) -> dict[str, Output]:
    """One {path: bytes} from several renderers; BuildError when two produce one path."""
    out: dict[str, Output] = {}
    for part in parts:
        for path, data in part.items():
            if path in out:
                raise BuildError(f"two outputs at one path: {path}")
            out[path] = data
    return out


def check_paths(outputs: dict[str, Output]) -> None:
    """BuildError for a path that is absolute, climbs out, is not normalised, or is both a
    file and a folder of another output."""
    for path in outputs:
        p = PurePosixPath(path)
        if (not path or p.is_absolute() or "\\" in path or ".." in p.parts
                or str(p) != path or path.startswith("./")):
            raise BuildError(f"output path outside the output folder or not normalised: {path!r}")
    clash = sorted(_folders(outputs) & outputs.keys())
    if clash:
        raise BuildError(f"output path is both a file and a folder: {clash[0]}")


def write_tree(outputs: dict[str, Output], out_dir: Path) -> int:
    """Replace out_dir by exactly outputs, atomically. Returns the number of files written."""
    check_paths(outputs)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    spare = out_dir.parent / f".{out_dir.name}.{SPARE}"
    shutil.rmtree(tmp, ignore_errors=True)
    if spare.is_dir() and not spare.is_symlink():
        spare.rename(tmp)
    try:
        _sync(tmp, outputs, out_dir)
        _swap(tmp, out_dir)
    finally:  # after a swap tmp holds the old tree; after a failure a tree as good as any
        if tmp.exists() and not spare.exists():
            tmp.rename(spare)
        elif tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    remove_in_background(leftover_trees(out_dir))
    return len(outputs)


def write_events(db_path: Path, events: BuildEvents) -> int:
    """Store the events this build opened, updated or resolved and log their transitions,
    after the trees are in place; the number of transitions logged."""
    if not events.changed:
        return 0
    conn = connect(db_path)
    try:
        return store_events(conn, list(events.changed), list(events.transitions))
    finally:
        conn.close()


def leftover_trees(out_dir: Path) -> list[Path]:
    """Temporary trees of out_dir's builds that are no longer running."""
    prefix = f".{Path(out_dir).name}.tmp-"
    pids = [(path, path.name[len(prefix):])
            for path in Path(out_dir).parent.glob(f"{glob.escape(prefix)}*")]
    return sorted(path for path, pid in pids if pid.isdigit() and not _running(int(pid)))


def remove_in_background(paths: list[Path]) -> None:
    """Start a detached, niced `rm -rf` of paths (nothing when there are none) without waiting
    for it to finish; what it has not removed when it dies, the next build's leftover_trees finds."""
    if paths:
        subprocess.run([*_REMOVE, *map(str, paths)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       start_new_session=True, check=False)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _sync(root: Path, outputs: dict[str, Output], current: Path) -> None:
    """Make root (which may hold anything, or not exist) hold exactly outputs."""
    folders = _folders(outputs)
    root.mkdir(exist_ok=True)
    files, dirs = _scan(root)
    for path in files - outputs.keys():
        (root / path).unlink()
    for folder in sorted(dirs - folders, reverse=True):  # what is inside goes with it
        shutil.rmtree(root / folder, ignore_errors=True)
    for folder in sorted(folders - dirs - {"."}):  # parents sort before their children
        (root / folder).mkdir()
    for path, data in outputs.items():
        _put(root / path, data, current / path)


def _folders(paths: Iterable[str]) -> set[str]:
    """Every folder holding one of the normalised relative paths, "." included (string work:
    PurePosixPath.parents took ~0.1 s a tree)."""
    out = {"."}
    for path in paths:
        end = path.rfind("/")
        while end > 0 and path[:end] not in out:  # a folder's parents are in with it
            out.add(path[:end])
            end = path.rfind("/", 0, end)
    return out


def _scan(root: Path) -> tuple[set[str], set[str]]:
    """(files, folders) under root as relative paths; a symlink or special file counts as a
    file (it is never followed)."""
    files, dirs, todo = set(), set(), [""]
    while todo:
        rel = todo.pop()
        with os.scandir(root / rel) as entries:
            for entry in entries:
                path = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_dir(follow_symlinks=False):
                    dirs.add(path)
                    todo.append(path)
                else:
                    files.add(path)
    return files, dirs


def _put(target: Path, data: Output, current: Path) -> None:
    """target made to hold data: kept when it does, else rewritten in place when nothing else
    links to it, else replaced (by a link to the current tree's file when that holds data)."""
    if isinstance(data, Deferred):
        data = data.make()
    st = _lstat(target)
    if isinstance(data, Reused):
        if st is not None and _same_file(st, data.source):
            return
        _replace(target, st, data.source)
        return
    if _holds(target, st, data):
        return
    if st is not None and stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
        target.write_bytes(data)  # truncated and rewritten: the same inode, none made
        return
    _replace(target, st, current if _holds(current, _lstat(current), data) else data)


def _replace(target: Path, st: os.stat_result | None, data: Path | bytes) -> None:
    """target (absent when st is None) replaced by a link to the file data, or by bytes data."""
    if st is not None:
        target.unlink()
    if isinstance(data, bytes):
        target.write_bytes(data)
        return
    try:
        os.link(data, target)
    except OSError:  # another filesystem, or the old file vanished: copy
        shutil.copyfile(data, target)


def _same_file(st: os.stat_result, path: Path) -> bool:
    try:
        other = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and (st.st_ino, st.st_dev) == (other.st_ino, other.st_dev)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _holds(path: Path, st: os.stat_result | None, data: bytes) -> bool:
    """path (whose lstat is st, None when absent) is a regular file holding exactly data."""
    if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
        return False
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def _swap(new: Path, current: Path) -> None:
    if not current.exists():
        os.rename(new, current)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    rc = libc.renameat2(_AT_FDCWD, os.fsencode(new), _AT_FDCWD, os.fsencode(current),
                        _RENAME_EXCHANGE)
    if rc != 0:
        err = ctypes.get_errno()
        raise BuildError(f"cannot swap {new} into {current}: {os.strerror(err)}")

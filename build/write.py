"""The only stage of the build that writes: outputs into a temporary folder beside the output
folder, then one atomic swap (renameat2 RENAME_EXCHANGE), so a crash never leaves a half site.
Refuses two outputs at one path and any path that would land outside the folder.

The swapped-out tree is renamed `.{name}.old-{pid}-{ns}` and removed by a detached low-priority
`rm` the build does not wait for (freeing ~100 MB of replaced files took ~0.5 s of every build).
Each build also hands it old trees still there and temporary trees of builds that died."""
from __future__ import annotations

import ctypes
import glob
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from build.errors import BuildError

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# sh starts rm in the background and exits: rm outlives the build, and no child is left unwaited
_REMOVE = ("sh", "-c", 'nice -n 10 rm -rf -- "$@" &', "sh")


@dataclass(frozen=True, slots=True)
class Reused:
    """An output whose bytes the previous build already wrote at `source`: hard-linked into the
    new tree instead of read and written again (the big private files)."""

    source: Path


Output = bytes | Reused


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
    folders = {str(parent) for path in outputs for parent in PurePosixPath(path).parents}
    clash = sorted(folders & set(outputs))
    if clash:
        raise BuildError(f"output path is both a file and a folder: {clash[0]}")


def write_tree(outputs: dict[str, Output], out_dir: Path) -> int:
    """Replace out_dir by exactly outputs, atomically. Returns the number of files written."""
    check_paths(outputs)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _fill(tmp, outputs)
        _swap(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if tmp.exists():  # it holds the old tree now: out of the way at once, removed meanwhile
        tmp.rename(out_dir.parent / f".{out_dir.name}.old-{os.getpid()}-{time.time_ns()}")
    remove_in_background(leftover_trees(out_dir))
    return len(outputs)


def leftover_trees(out_dir: Path) -> list[Path]:
    """Old trees of out_dir awaiting removal, and temporary trees of builds no longer running."""
    prefix = f".{Path(out_dir).name}."
    out = []
    for path in Path(out_dir).parent.glob(f"{glob.escape(prefix)}*-*"):
        kind, _, rest = path.name[len(prefix):].partition("-")
        if kind == "old" or (kind == "tmp" and rest.isdigit() and not _running(int(rest))):
            out.append(path)
    return sorted(out)


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


def _fill(root: Path, outputs: dict[str, Output]) -> None:
    made: set[Path] = set()
    for path in sorted(outputs):
        target = root / path
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        data = outputs[path]
        if isinstance(data, Reused):
            try:
                os.link(data.source, target)
            except OSError:  # another filesystem, or the old file vanished: copy
                shutil.copyfile(data.source, target)
        else:
            target.write_bytes(data)


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

"""Run a command the way the image runs it, without Docker.

- readonly_cwd: from a working directory it cannot write. Root ignores file modes, so a
  read-only bind mount in a private mount namespace is the only honest way to say no to root.
- Machine: a Fly machine of the image, built from fly/Dockerfile itself: /app holds what its
  COPY lines copy (root-owned, mounted read-only), its ENV lines set the environment, the
  service account has the uid its `useradd` line gives (in this mount namespace's
  /etc/passwd only), and /data starts root-owned, as Fly mounts a volume.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import dockerfile

from tests.conftest import need_tool

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "fly" / "Dockerfile"
# $0 is the folder; mounting over it does not move a process already inside, hence the cd.
_READONLY_CWD = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && cd "$0" && exec "$@"'


def readonly_cwd(cmd: list[str], cwd: Path) -> list[str]:
    """cmd wrapped so that it runs in cwd, which it cannot write: as root through a read-only
    bind mount in a private mount namespace; otherwise cwd's mode becomes 0555. Pass cwd as
    Popen's cwd too."""
    if os.geteuid() != 0:
        cwd.chmod(0o555)
        return cmd
    need_tool("unshare", "util-linux")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _READONLY_CWD,
            str(cwd), *cmd]


@dataclass(frozen=True, slots=True)
class Machine:
    """The image's file system for one role, under root (a folder others may enter)."""

    root: Path

    @property
    def app(self) -> Path:
        return self.root / "app"

    @property
    def user(self) -> str:
        return _useradd()[0]

    @property
    def uid(self) -> int:
        return _useradd()[1]

    def stage(self) -> None:
        """/app as the Dockerfile's COPY lines fill it, and an /etc/passwd and /etc/group that
        know the service account."""
        workdir = Path("/")
        for command in dockerfile.parse_file(str(DOCKERFILE)):
            if command.cmd == "WORKDIR":
                workdir = Path(command.value[0])
            if command.cmd == "COPY":
                *sources, dest = command.value
                for source in sources:
                    _copy(ROOT / source, self.app / (workdir / dest).relative_to(workdir),
                          dest.endswith("/"))
        name, uid = _useradd()
        for table, line in (("passwd", f"{name}:x:{uid}:{uid}::/data:/usr/sbin/nologin\n"),
                            ("group", f"{name}:x:{uid}:\n")):
            text = Path(f"/etc/{table}").read_text()
            (self.root / table).write_text(text if f"\n{name}:" in f"\n{text}" else text + line)

    def env(self, **values: str) -> dict[str, str]:
        """The image's ENV lines, this interpreter on PATH, the code from /app, and values."""
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C.UTF-8"}
        for command in dockerfile.parse_file(str(DOCKERFILE)):
            if command.cmd == "ENV":
                env.update(zip(command.value[::2], command.value[1::2]))
        return {**env, "PYTHONPATH": str(self.app), "NETTRACE_APP_DIR": str(self.app), **values}

    def argv(self, *cmd: str) -> list[str]:
        """cmd as root in a mount namespace of its own where /app is read-only and the working
        directory, the service account exists, and this interpreter is reachable by it."""
        lines = ["set -e", *_reachable([Path(sys.executable).resolve().parent, Path(sys.prefix),
                                        self.root], self.root / "hold")]
        lines += [f"mount --bind {shlex.quote(str(self.root / table))} /etc/{table}"
                  for table in ("passwd", "group")]
        app = shlex.quote(str(self.app))
        lines += [f"mount --bind {app} {app}", f"mount -o remount,bind,ro {app}", f"cd {app}",
                  'exec "$@"']
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines),
                "machine", *cmd]


def _useradd() -> tuple[str, int]:
    """(account, uid) of the Dockerfile's `useradd --uid N ... NAME` line."""
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        match = re.search(r"useradd .*--uid (\d+) .* (\w+)$", " ".join(command.value))
        if command.cmd == "RUN" and match:
            return match.group(2), int(match.group(1))
    raise AssertionError(f"{DOCKERFILE}: no `useradd --uid N ... NAME` line")


def _copy(source: Path, dest: Path, into: bool) -> None:
    target = dest / source.name if into else dest
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(source, target)


def _reachable(paths: list[Path], hold: Path) -> list[str]:
    """Shell lines that let any user reach each path in this mount namespace: a folder on the
    way that others may not enter (/root, mode 0700, holding this interpreter) is covered by a
    tmpfs of mode 0755 on which the needed child is bind-mounted back. The real folders keep
    their modes."""
    blocked: dict[Path, set[str]] = {}
    for path in (p.resolve() for p in paths):
        for parent in path.parents:
            if not parent.stat().st_mode & stat.S_IXOTH:
                blocked.setdefault(parent, set()).add(path.relative_to(parent).parts[0])
    lines = []
    outermost_first = sorted(blocked.items(), key=lambda item: len(item[0].parts))
    for i, (parent, children) in enumerate(outermost_first):
        kept = {child: hold / f"{i}-{child}" for child in sorted(children)}
        for child, keep in kept.items():
            lines += [f"mkdir -p {shlex.quote(str(keep))}",
                      f"mount --rbind {shlex.quote(str(parent / child))} {shlex.quote(str(keep))}"]
        lines.append(f"mount -t tmpfs -o mode=0755 tmpfs {shlex.quote(str(parent))}")
        for child, keep in kept.items():
            lines += [f"mkdir {shlex.quote(str(parent / child))}",
                      f"mount --rbind {shlex.quote(str(keep))} {shlex.quote(str(parent / child))}"]
    return lines

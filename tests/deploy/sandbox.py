"""Run a command the way the image runs it, without Docker: from a working directory it cannot
write, as root would meet it on Fly (root ignores file modes, so a read-only bind mount in a
private mount namespace is the only honest way to say no to root)."""
from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import need_tool

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

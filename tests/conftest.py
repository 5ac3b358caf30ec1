"""Shared test helpers. Tests that need root or a Debian package skip on a laptop and fail in CI."""
from __future__ import annotations

import os
import shutil
import socket

import pytest


def need(ok: bool, reason: str) -> None:
    """Skip with reason when ok is false; fail instead when CI is set, so nothing is skipped silently."""
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI requires this test to run: {reason}")
    pytest.skip(reason)


def need_root() -> None:
    need(os.geteuid() == 0, "needs root (network namespaces, raw sockets)")


def need_tool(name: str, package: str) -> str:
    """The path of an executable from a Debian package that `make test` installs."""
    path = shutil.which(name)
    need(path is not None, f"needs {name} (Debian package {package}; `make test` installs it as root)")
    return path


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (for servers under test)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

"""Shared test helpers. Tests that need root or a Debian package skip on a laptop and fail in CI."""
from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


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


def wait_for(condition: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.05) -> T:
    """Calls condition until it returns something truthy and returns that; AssertionError naming
    what after timeout_s. An exception from condition (a server that died) ends the wait at once."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)
    return value


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (for servers under test)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

"""The supervisor of `nettrace run`: its children, each in a process group of its own (the
terminal's Ctrl-C reaches only the supervisor), restarted when they exit, and stopped the way
their own Ctrl-C would stop them (SIGINT: every nettrace command shuts down cleanly on it)."""
from __future__ import annotations

import ctypes
import os
import shlex
import signal
import subprocess
import sys
import threading
import time

from collect.errors import CollectError

RESTART_DELAY_S = 2.0
STOP_TIMEOUT_S = 20.0  # a child that has not stopped by then is killed
USAGE_EXIT = 2  # what nettrace and argparse exit with on a configuration error
POLL_S = 0.25
_PR_SET_PDEATHSIG = 1


class RunError(CollectError):
    """A part of the local pipeline cannot run as configured."""


class Supervisor:
    """The children of one run, each in its own process group; SIGINT and SIGTERM set
    `stopping`, which every wait here watches."""

    def __init__(self):
        self.children: list[Child] = []
        self.stopping = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        child = Child(name, cmd, env)
        self.children.append(child)
        child.start()

    def wait_until(self, ready, timeout_s: float | None) -> None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.stopping.is_set() and not ready() and (
                deadline is None or time.monotonic() < deadline):
            for child in self.children:
                child.keep_alive()
            self.stopping.wait(POLL_S)

    def run_once(self, name: str, cmd: list[str], env: dict[str, str]) -> tuple[int | None, str]:
        """(exit code, stdout and stderr) of a one-shot child; (None, output) when it was
        stopped because the run is stopping."""
        proc = spawn(cmd, env, capture=True)
        kill_at = None
        while True:
            try:  # a retried communicate() loses no output
                output, _ = proc.communicate(timeout=POLL_S)
                return (None if self.stopping.is_set() else proc.returncode), output
            except subprocess.TimeoutExpired:
                if self.stopping.is_set() and kill_at is None:
                    proc.send_signal(signal.SIGINT)
                    kill_at = time.monotonic() + STOP_TIMEOUT_S
                elif kill_at is not None and time.monotonic() > kill_at:
                    os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        self.stopping.set()
        for child in reversed(self.children):
            child.stop()


class Child:
    """A long-running subprocess: restarted after a pause if it exits."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str]):
        self.name, self.cmd, self.env = name, cmd, env
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = spawn(self.cmd, self.env, capture=False)

    def keep_alive(self) -> None:
        code = self.proc.poll() if self.proc else None
        if code == USAGE_EXIT:  # a configuration error: restarting would only repeat it
            raise RunError(f"{self.name} stopped on a configuration error (see above)")
        if code is not None:
            print(f"nettrace run: {self.name} exited ({code}), restarting: {shlex.join(self.cmd)}",
                  file=sys.stderr, flush=True)
            time.sleep(RESTART_DELAY_S)
            self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            interrupt(self.proc)
            self.proc.wait()


def spawn(cmd: list[str], env: dict[str, str], capture: bool) -> subprocess.Popen:
    """cmd in a process group of its own (the terminal's Ctrl-C is not sent to it), ended by
    the kernel if this process dies first."""
    out = subprocess.PIPE if capture else None
    return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT if capture else None,
                            text=capture, process_group=0, preexec_fn=_die_with_parent)


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def interrupt(proc: subprocess.Popen) -> None:
    """Stop proc as its own Ctrl-C would (every nettrace command shuts down cleanly on SIGINT);
    its whole group is killed if it is still there after STOP_TIMEOUT_S."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)

"""Run a command and sample the resident memory of all its processes (its whole session:
the forked workers included) every 20 ms: what a machine must hold is their sum, not the
largest one. Linux /proc only."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_S = 0.02
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True, slots=True)
class Sampled:
    wall_s: float
    peak_sum_mb: float  # the largest sum over the session's processes at one instant
    peak_max_mb: float  # the largest single process (what ru_maxrss reports)
    returncode: int
    stdout: str


def session_pids(session: int) -> list[int]:
    """The live processes whose session id is session."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[3]) == session:  # field 6: session id
                out.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # the process ended while it was read
    return out


def rss_kb(pid: int) -> int:
    """Resident KB of pid, 0 once it has ended."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_KB
    except (OSError, ValueError, IndexError):
        return 0


def session_rss_kb(session: int) -> list[int]:
    """Resident KB of each live process whose session id is session."""
    return [kb for kb in map(rss_kb, session_pids(session)) if kb]


def mapped_kb(pid: int, path: Path) -> int:
    """Resident KB of pid's mappings of path: SQLite's mmap of a database is clean file pages,
    which the kernel reclaims under pressure like any page cache, yet RSS counts them."""
    total, inside = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as smaps:
            for line in smaps:
                if line[0] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
                    inside = line.rstrip("\n").endswith(str(path))
                elif inside and line.startswith("Rss:"):
                    total += int(line.split()[1])
    except OSError:
        return 0
    return total


def run_sampled(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> Sampled:
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    peaks = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            sizes = session_rss_kb(proc.pid)
            if sizes:
                peaks[0] = max(peaks[0], sum(sizes))
                peaks[1] = max(peaks[1], max(sizes))
            time.sleep(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = proc.stdout.read()
    proc.wait()
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    return Sampled(wall, peaks[0] / 1024, peaks[1] / 1024, proc.returncode, out)

"""The central volume holds the database's steady state for the real catalog at the default
retention with room to spare: bench/disk.py, measured on a small sample of the catalog."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADROOM_BAR = 2.0


def test_the_fly_volume_holds_the_steady_state_database_twice_over():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "disk.py"), "--sample-targets", "1",
                           "--sample-days", "1", "3"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    total_mb = float(re.search(r"\*\*total\*\* \| \| \| \*\*([\d,]+) MB", done.stdout)
                     .group(1).replace(",", ""))
    headroom = float(re.search(r"headroom ([\d.]+)x", done.stdout).group(1))
    assert 1_000 < total_mb < 10_000, done.stdout  # the real catalog's rows, not a toy's
    assert headroom >= HEADROOM_BAR, done.stdout

"""`make test` runs every test folder: pytest skips some folder names by default (`build` among
them), which once left the build's tests out of every run without a word."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_folder_is_collected_by_a_plain_pytest():
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    collected = {line.split("/")[1] for line in run.stdout.splitlines()
                 if line.startswith("tests/") and "::" in line and line.count("/") > 1}
    folders = {p.parent.name for p in (ROOT / "tests").glob("*/test_*.py")}
    assert folders and folders <= collected, folders - collected

"""Test harness: `nettrace serve` with a clock the test sets through a file.

Production passes time.time (proxy/cli.py); tests need to move across UTC midnight, so this
launcher passes a clock that reads unix seconds from --clock-file (the wall clock while the
file is absent). Every other flag is `nettrace serve`'s own, parsed by its own parser.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from proxy.cli import register, serve_with_clock


def file_clock(path: Path):
    def now_s() -> float:
        try:
            return float(path.read_text())
        except (FileNotFoundError, ValueError):
            return time.time()
    return now_s


def main() -> None:
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--clock-file", type=Path, required=True)
    known, rest = own.parse_known_args()
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    serve_with_clock(parser.parse_args(["serve", *rest]), file_clock(known.clock_file))


if __name__ == "__main__":
    main()

"""Test harness: the proxy app run by uvicorn with a clock the test sets through a file.

Production passes time.time (proxy/cli.py); tests need to move across UTC midnight, so this
launcher passes a clock that reads unix seconds from --clock-file (the wall clock while the
file is absent). The app code is the same; only the injected clock differs.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import uvicorn

from proxy.app import ServeConfig, create_app
from proxy.keys import PEPPER_ENV, check_pepper


def file_clock(path: Path):
    def now_s() -> float:
        try:
            return float(path.read_text())
        except (FileNotFoundError, ValueError):
            return time.time()
    return now_s


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("public", "private", "db", "clock-file"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--stream-poll", type=float, default=0.1)
    args = p.parse_args()
    config = ServeConfig(args.public, args.private, args.db, check_pepper(os.environ.get(PEPPER_ENV)),
                         file_clock(args.clock_file), args.stream_poll)
    uvicorn.run(create_app(config), host="127.0.0.1", port=args.port, loop="uvloop",
                http="httptools", access_log=False, log_level="warning", proxy_headers=False)


if __name__ == "__main__":
    main()

"""`nettrace build --db FILE --out public/ --private private/ [--targets FILE]`."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from build.read.inputs import BuildClock
from build.errors import BuildError
from build.pipeline import BuildOptions, run_build
from collect.errors import CollectError
from collect.targets import CATALOG_PATH, load_catalog

CACHE_NAME = "build-cache"  # beside --db by default, never relative to the working directory


def register(subparsers) -> None:
    p = subparsers.add_parser("build", help="signals, JSON API, metrics, badges and pages",
                              description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True, type=Path, help="the central SQLite file")
    p.add_argument("--out", default=Path("public"), type=Path, help="public folder (CDN)")
    p.add_argument("--private", default=Path("private"), type=Path,
                   help="private folder (served by the keyed proxy)")
    p.add_argument("--targets", default=CATALOG_PATH, type=Path, help="the catalog")
    p.add_argument("--cache", type=Path,
                   help=f"where the build remembers what it can reuse (default: {CACHE_NAME}/ "
                        "beside --db)")
    p.add_argument("--no-cache", action="store_true", help="render every output")
    p.add_argument("--now", type=float, default=None,
                   help="judge staleness at this unix time instead of the wall clock")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        catalog = load_catalog(args.targets)
    except CollectError as exc:
        raise BuildError(str(exc)) from exc
    opts = BuildOptions(args.db, args.out, args.private, catalog, _clock(args),
                        None if args.no_cache else args.cache or args.db.parent / CACHE_NAME,
                        lambda: time.monotonic() - started)
    report = run_build(opts)
    for line in report.skipped:
        print(f"nettrace build: skipped: {line}", file=sys.stderr)
    print(f"nettrace build: {report.public_files} public and {report.private_files} private "
          f"files ({report.reused_files} reused), {report.signals_stored} new signals, "
          f"generated_at {report.generated_at}")
    return 0


def _clock(args: argparse.Namespace) -> BuildClock:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and not epoch.strip().isdigit():
        raise BuildError(f"SOURCE_DATE_EPOCH must be unix seconds, got {epoch!r}")
    source = None if epoch is None else int(epoch)
    now = args.now if args.now is not None else (source if source is not None else time.time())
    return BuildClock(now, source)

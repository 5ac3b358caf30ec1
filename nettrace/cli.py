"""The `nettrace` command: each part registers its subcommands from its own cli module.

Only the CLI reads argv, the environment and the wall clock; errors of the parts become one
line on stderr and a non-zero exit.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from build.errors import BuildError
from collect.errors import CollectError, IngestError
from proxy.errors import ProxyError

# Each module defines register(subparsers); a registered parser sets func(args) -> int.
COMMAND_MODULES = (
    "collect.cli",  # collect
    "collect.ingest_cli",  # ingest serve | import | backup | prune
    "build.cli",  # build
    "proxy.cli",  # serve, keys
    "nettrace.run",  # run: the whole pipeline on this machine (make run)
)
EXPECTED = (CollectError, IngestError, BuildError, ProxyError)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nettrace", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except EXPECTED as exc:
        print(f"nettrace {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

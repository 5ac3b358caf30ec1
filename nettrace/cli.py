"""The `nettrace` command: each part registers its subcommands from its own cli module.

Only the CLI reads argv, the environment and the wall clock; errors of the parts become one
line on stderr and a non-zero exit.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from build.errors import BuildError
from collect.errors import CollectError
from ingest.errors import IngestError
from proxy.errors import ProxyError

# Each module defines register(subparsers); a registered parser sets func(args) -> int.
# Only the chosen command's module is imported: a collector on a 256 MB machine must not load
# numpy, cairo and the web stack it never uses.
COMMANDS = {
    "collect": "collect.cli",
    "ingest": "ingest.cli",  # serve | import | backup | prune
    "build": "build.cli",
    "signals": "build.backtest",  # backtest: replay stored history through the detector
    "serve": "proxy.cli",
    "keys": "proxy.cli",
    "run": "nettrace.run",  # the whole pipeline on this machine (make run)
}
DESCRIPTION = "Network latency of financial endpoints, measured from 7 regions and published."
EXPECTED = (CollectError, IngestError, BuildError, ProxyError)


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for one command, or for all of them when command is not one (help, typos)."""
    p = argparse.ArgumentParser(prog="nettrace", description=DESCRIPTION)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    for name in dict.fromkeys(modules):
        importlib.import_module(name).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser(argv[0] if argv else None).parse_args(argv)
    try:
        return args.func(args) or 0
    except EXPECTED as exc:
        print(f"nettrace {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

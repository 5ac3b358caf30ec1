"""`nettrace collect`: probe every target of the catalog from one region, once or as a daemon.

`--once --jsonl` prints one result record per line (schema 1, README "The result record");
on a terminal, without --jsonl, a progress bar and a summary table. `--every 15m` hands over to
collect.daemon, which spools and pushes each round.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import resource
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from collect.errors import CollectError
from collect.records import PROBES, ProbeResult, round_slot

DURATION = re.compile(r"(\d+(?:\.\d+)?)([smh]?)\Z")
DURATION_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600}
DEFAULT_SPOOL = ".nettrace/spool"
SPOOL_MAX_VAR = "NETTRACE_SPOOL_MAX_BYTES"
WANTED_OPEN_FILES = 65536  # concurrent connects need more descriptors than the usual 1024


def parse_duration_s(text: str) -> float:
    """'15m', '900s', '1h' or '900' as seconds; argparse shows the error."""
    match = DURATION.match(text.strip())
    if not match or float(match[1]) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 15m, 900s or 1h")
    return float(match[1]) * DURATION_UNIT_S[match[2]]


def parse_probes(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in PROBES]
    if unknown or not names:
        bad = ", ".join(unknown) or repr(text)
        raise argparse.ArgumentTypeError(f"unknown probe {bad} (known: {', '.join(PROBES)})")
    return names


def positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive {kind.__name__}")
        return value

    return parse


def register(subparsers) -> None:
    p = subparsers.add_parser("collect", help="probe the catalog's targets from one region",
                              description=__doc__.splitlines()[0])
    p.add_argument("--targets", default="targets.toml", metavar="FILE",
                   help="catalog (default: targets.toml)")
    p.add_argument("--region", required=True, metavar="CODE",
                   help="this collector's region code, e.g. ewr")
    p.add_argument("--once", action="store_true",
                   help="one round, then exit (the default without --every)")
    p.add_argument("--jsonl", action="store_true", help="one JSON result per line on stdout")
    p.add_argument("--probes", type=parse_probes, metavar="LIST",
                   help="only these probes, e.g. icmp,tcp (default: each target's list)")
    p.add_argument("--samples", type=positive(int), metavar="N",
                   help="samples per icmp and tcp probe (default 20 and 3)")
    p.add_argument("--interval", type=positive(float), metavar="S",
                   help="seconds between samples (default 0.25)")
    p.add_argument("--timeout", type=positive(float), metavar="S",
                   help="seconds to wait for one sample (default 2)")
    p.add_argument("--concurrency", type=positive(int), metavar="N",
                   help="probes in flight (default 1024)")
    p.add_argument("--max-hops", type=positive(int), metavar="N", help="trace TTL limit (default 30)")
    p.add_argument("--dns-server", metavar="IP[:PORT]",
                   help="resolver for the dns probe (default: first nameserver in resolv.conf)")
    p.add_argument("--ca-file", metavar="FILE", help="extra trusted CA certificates for tls and http")
    p.add_argument("--every", type=parse_duration_s, metavar="DURATION",
                   help="daemon: a round every DURATION (15m, 900s, 1h)")
    p.add_argument("--push", metavar="URL", help="daemon: central ingest URL")
    p.add_argument("--now", action="store_true",
                   help="daemon: measure the current slot at once, then follow the grid")
    p.add_argument("--spool", default=DEFAULT_SPOOL, metavar="DIR",
                   help=f"daemon: spool folder (default {DEFAULT_SPOOL})")
    p.set_defaults(func=collect_command)


def probe_options(args: argparse.Namespace):
    """ProbeOptions: defaults first, the flags on top."""
    from collect.probes import ProbeOptions  # imported here: other subcommands skip the probes

    given = {
        "icmp_samples": args.samples,
        "tcp_samples": args.samples,
        "interval_s": args.interval,
        "timeout_s": args.timeout,
        "concurrency": args.concurrency,
        "max_hops": args.max_hops,
        "probes": args.probes,
        "dns_server": args.dns_server,
        "ca_file": args.ca_file,
    }
    return ProbeOptions(**{k: v for k, v in given.items() if v is not None})


def collect_command(args: argparse.Namespace) -> int:
    from collect.runner import run_round
    from collect.targets import load_catalog

    catalog = load_catalog(args.targets)
    catalog.region(args.region)
    opts = probe_options(args)
    raise_open_files_limit()
    if args.every is not None:
        if args.once:
            raise CollectError("--once and --every exclude each other")
        if not args.push:
            raise CollectError("--every needs --push URL (the central ingest)")
        from collect.daemon import run_daemon

        return run_daemon(catalog.targets, args.region, daemon_config(args, os.environ), opts)
    round_ts = round_slot(time.time())
    if args.jsonl or not sys.stdout.isatty():
        results = asyncio.run(run_round(catalog.targets, args.region, round_ts, opts))
    else:
        results = run_with_progress(catalog.targets, args.region, round_ts, opts)
    if args.jsonl:
        write_jsonl(results, sys.stdout)
    else:
        print_summary(results)
    return 0


def daemon_config(args: argparse.Namespace, environ: Mapping[str, str]):
    """The DaemonConfig of the flags and NETTRACE_PUSH_SECRET (required) and
    NETTRACE_SPOOL_MAX_BYTES (optional) from environ; raises CollectError naming the bad one.
    Also starts logging, which the daemon reports through."""
    from collect import spool
    from collect.daemon import DaemonConfig
    from collect.push import PushTarget, endpoint
    from collect.signing import push_secret

    if args.every < 1 or args.every != int(args.every):
        raise CollectError(f"--every {args.every!r}: a round interval is whole seconds, at least 1")
    max_bytes = environ.get(SPOOL_MAX_VAR, str(spool.DEFAULT_MAX_BYTES))
    if not max_bytes.isdigit():
        raise CollectError(f"environment variable {SPOOL_MAX_VAR}={max_bytes!r} is not a byte count")
    target = PushTarget(endpoint(args.push), args.region, push_secret(environ))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    return DaemonConfig(int(args.every), Path(args.spool), target, int(max_bytes), args.now)


def write_jsonl(results: list[ProbeResult], out) -> None:
    for result in results:
        out.write(json.dumps(result.to_json(), separators=(",", ":")) + "\n")
    out.flush()


def run_with_progress(targets, region: str, round_ts: int, opts) -> list[ProbeResult]:
    from rich.progress import Progress

    from collect.runner import plan_round, run_round

    with Progress(transient=True) as progress:
        task = progress.add_task(f"probing from {region}", total=len(plan_round(targets, opts)))

        def advance(_result: ProbeResult) -> None:
            progress.advance(task)

        return asyncio.run(run_round(targets, region, round_ts, opts, on_result=advance))


def print_summary(results: list[ProbeResult]) -> None:
    """One row per target, one column per probe: median ms, loss when any, or the error."""
    from rich.console import Console
    from rich.table import Table

    probes = [p for p in PROBES if any(r.probe == p for r in results)]
    table = Table("target", *probes)
    rows: dict[str, dict[str, str]] = {}
    for r in results:
        rows.setdefault(r.target, {})[r.probe] = summary_cell(r)
    for host, cells in rows.items():
        table.add_row(host, *(cells.get(p, "") for p in probes))
    ok = sum(r.ok for r in results)
    console = Console()
    console.print(table)
    console.print(f"{len(results)} results, {ok} ok, {len(results) - ok} failed")


def summary_cell(result: ProbeResult) -> str:
    record = result.to_json()
    if not result.ok:
        return f"[red]{record['error'] or 'failed'}[/red]"
    cell = f"{record['rtt_ms']:.2f} ms"
    if record["loss"]:
        cell += f" [yellow]{record['loss']:.0%} loss[/yellow]"
    return cell


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = WANTED_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, WANTED_OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

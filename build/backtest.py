"""`nettrace signals backtest --db DB [--from ISO] [--to ISO] [--labels FILE] [--json]`:
replay stored raw history round by round through compute_events, as the builds see it (the
same Panel cut at each round, the open set carried), and report the events that began in the
span.

Output: a table of events per series-week by type and severity; with --json one event per
line (id, type, target, region, probe, started_at, ended_at, severity, z, before_ms,
during_ms); with --labels FILE (CSV target,region,probe,onset_iso) event precision, recall
and onset error, an event matching a label of its target, region and probe (a route_change
any probe of its pair) whose onset is within MATCH_ROUNDS rounds.

The replay starts WARMUP_S before --from, so events open at --from are open as the builds
had them (an event of older onset than that is not). The database is opened read-only. With
--jobs N, N processes replay whole categories each (a target's regions and a category's
peers are judged together), which gives the same events as one; a smaller part's process
first reads the opening rounds of a larger one for it (plan_parts).
"""
from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import TypeVar

import numpy as np

from build.compute.event_text import LEVELS
from build.compute.events import DETECTOR_VERSION, TYPES, Event, compute_events
from build.compute.panel import concat_histories, panel_at
from build.errors import BuildError
from build.read.panel import read_panel_history, read_span
from collect.errors import CollectError
from collect.records import PROBES, ROUND_S, iso_utc
from collect.targets import CATALOG_PATH, Catalog, load_catalog

T = TypeVar("T")
WARMUP_S = 2 * 86400
MATCH_ROUNDS = 3
READ_SHARE = 0.5  # of a part's CPU in the 90-day benchmark, reading (31 of 60 s, 24 of 49 s)
WEEK_S = 7 * 86400
LABEL_FIELDS = ("target", "region", "probe", "onset_iso")


def register(subparsers) -> None:
    p = subparsers.add_parser("signals", help="signal events: replay the detector on history")
    sub = p.add_subparsers(dest="signals_command", required=True, metavar="ACTION")
    bt = sub.add_parser("backtest", help="replay stored rounds through the event detector",
                        description="Replay stored history round by round through the event "
                                    "detector, as the builds judged it, and report its events.")
    bt.add_argument("--db", type=Path, required=True, help="the central SQLite file (read-only)")
    bt.add_argument("--from", dest="from_iso", metavar="ISO", help="first onset reported")
    bt.add_argument("--to", dest="to_iso", metavar="ISO", help="last round replayed")
    bt.add_argument("--labels", type=Path, metavar="FILE",
                    help="CSV target,region,probe,onset_iso: precision, recall, onset error")
    bt.add_argument("--json", action="store_true", help="one event per line")
    bt.add_argument("--targets", type=Path, default=CATALOG_PATH,
                    help="the catalog (names and categories)")
    bt.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="processes, each replaying whole categories (default: 2; three on two "
                         "cores took the same CPU and time)")
    bt.set_defaults(func=run)


@dataclass(frozen=True, slots=True)
class Label:
    target: str
    region: str
    probe: str
    onset_ts: int


def run(args: argparse.Namespace) -> int:
    labels = read_labels(args.labels) if args.labels else None
    start, end = (_iso_arg(args.from_iso, "--from"), _iso_arg(args.to_iso, "--to"))
    if args.jobs < 1:
        raise BuildError(f"--jobs: {args.jobs} is not a positive number of processes")
    try:
        catalog = load_catalog(args.targets)
    except CollectError as exc:
        raise BuildError(str(exc)) from exc
    if not Path(args.db).is_file():
        raise BuildError(f"{args.db}: no such database file")
    span = _read(args.db, lambda: read_span(args.db))
    if span.first_ts is None:
        raise BuildError(f"{args.db}: holds no results")
    start = span.first_ts if start is None else -(-start // ROUND_S) * ROUND_S
    end = span.last_ts if end is None else end // ROUND_S * ROUND_S
    if end < start:
        raise BuildError(f"--to {iso_utc(end)} is before --from {iso_utc(start)}")
    jobs = plan_parts(args.db, max(span.first_ts, start - WARMUP_S), end,
                      split_catalog(catalog, args.jobs))
    if len(jobs) == 1:
        done = [replay_part(jobs[0])]
    else:
        queues = [get_context("fork").Queue() for _ in jobs]  # put() does not wait for get()
        with get_context("fork").Pool(len(jobs), _inherit, (queues,)) as pool:
            done = pool.map(replay_part, jobs, chunksize=1)
    events = sorted((e for part, _, _ in done for e in part if e.started_at >= start),
                    key=_order)
    series, left_out = sum(d[1] for d in done), sum(d[2] for d in done)
    if args.json:
        for e in events:
            print(json.dumps(event_line(e)))
    else:
        print_table(events, series, start, end)
    if labels is not None:
        summary = score(events, labels)
        print(json.dumps({"labels": summary}) if args.json else _summary_text(summary))
    if left_out:
        print(f"nettrace signals: left out {left_out} results the builds leave out "
              "(probe started after its round's slot, or off the 15-minute grid)",
              file=sys.stderr)
    return 0


def split_catalog(catalog: Catalog, parts: int) -> list[Catalog]:
    """The catalog in up to `parts` catalogs of whole categories (divergence compares a
    target with its category's peers, and regions join per target), balanced by targets."""
    groups = sorted(((c, [t for t in catalog.targets if t.category == c])
                     for c in catalog.categories), key=lambda g: (-len(g[1]), g[0]))
    bins: list[list] = [[] for _ in range(max(1, min(parts, len(groups))))]
    for category, targets in groups:
        smallest = min(bins, key=lambda b: sum(len(t) for _, t in b))
        smallest.append((category, targets))
    return [replace(catalog, categories=tuple(c for c, _ in b),
                    targets=tuple(t for _, ts in b for t in ts)) for b in bins if b]


@dataclass(frozen=True, slots=True)
class PartJob:
    """One process's work: replay part `index` (catalog) over first_ts..last_ts. It reads its
    own rounds from own_from_ts; the rounds before come from the process that lends them,
    which reads them first. lend: (index, catalog, until_ts) of another part whose rounds
    first_ts..until_ts this process reads for it before its own."""

    db: Path
    first_ts: int
    last_ts: int
    index: int
    catalog: Catalog
    own_from_ts: int
    lend: tuple[int, Catalog, int] | None = None


def plan_parts(db: Path, first_ts: int, last_ts: int, parts: list[Catalog]) -> list[PartJob]:
    """A job a part, the lenders first (a process waiting for a loan was lent to by a job
    already running). Whole categories weigh unevenly (45 and 55 targets): the smallest part's
    process reads the first rounds of the largest for it, the next smallest the next
    largest's, and so on, enough that both have as much to do (reading is READ_SHARE of a
    part's work; the rest, replaying, stays with it)."""
    rounds = (last_ts - first_ts) // ROUND_S + 1
    jobs = {i: PartJob(db, first_ts, last_ts, i, c, first_ts) for i, c in enumerate(parts)}
    by_size = sorted(jobs, key=lambda i: len(parts[i].targets))
    for small, large in zip(by_size[:len(parts) // 2], reversed(by_size[len(parts) // 2:])):
        light, heavy = len(parts[small].targets), len(parts[large].targets)
        lent = min(round(rounds * (heavy - light) / (2 * READ_SHARE * heavy)), rounds - 1)
        if lent > 0:
            until = first_ts + (lent - 1) * ROUND_S
            jobs[small] = replace(jobs[small], lend=(large, parts[large], until))
            jobs[large] = replace(jobs[large], own_from_ts=until + ROUND_S)
    return sorted(jobs.values(), key=lambda j: j.lend is None)


_queues: list = []  # an inbox for each part, which the replay processes inherit (fork)


def _inherit(queues: list) -> None:
    global _queues
    _queues = queues


def replay_part(job: PartJob) -> tuple[list[Event], int, int]:
    """(events, series, rows left out) of one catalog part, on connections of its own."""
    with _collector_off():
        if job.lend is not None:
            index, catalog, until = job.lend
            try:
                loan = _read(job.db, lambda: read_panel_history(job.db, job.first_ts, until,
                                                               catalog))
            except BaseException as exc:
                _queues[index].put(exc)  # the borrower must not wait for it
                raise
            _queues[index].put(loan)
        reads = [_read(job.db, lambda: read_panel_history(job.db, job.own_from_ts, job.last_ts,
                                                          job.catalog))]
        if job.own_from_ts > job.first_ts:
            loan = _queues[job.index].get()
            if isinstance(loan, BaseException):
                raise loan
            reads.insert(0, loan)
        h = concat_histories([r.history for r in reads])
        return replay(h), len(h.keys) + len(h.route_keys), sum(r.left_out for r in reads)


@contextmanager
def _collector_off() -> Iterator[None]:
    """Millions of rows and events, none in a reference cycle: the collector would only walk
    them."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _read(db: Path, read: Callable[[], T]) -> T:
    """read(), with a BuildError naming db when it cannot be read (not a database, damaged)."""
    try:
        return read()
    except sqlite3.Error as exc:
        raise BuildError(f"{db}: cannot read the database: {exc}") from exc


def replay(h) -> list[Event]:
    """The last state of every event opened while replaying every round of h."""
    latest: dict[str, Event] = {}
    open_events: tuple[Event, ...] = ()
    memo: dict = {}
    for ts in h.round_ts.tolist():
        step = compute_events(panel_at(h, ts), open_events, ts, memo)
        for e in step.opened + step.updated + step.resolved:
            latest[e.id] = e
        open_events = step.open
    return sorted(latest.values(), key=_order)


def _order(e: Event) -> tuple:
    return (e.started_at, e.type, e.target, e.region, e.probe)


def event_line(e: Event) -> dict:
    return {"id": e.id, "type": e.type, "target": e.target, "region": e.region,
            "probe": e.probe, "started_at": iso_utc(e.started_at),
            "ended_at": None if e.ended_at is None else iso_utc(e.ended_at),
            "severity": e.severity, "z": e.peak_z, "before_ms": e.before_ms,
            "during_ms": e.during_ms}


def print_table(events: list[Event], series: int, start: int, end: int) -> None:
    weeks = max(end - start + ROUND_S, ROUND_S) / WEEK_S
    per = series * weeks
    print(f"nettrace signals backtest: {iso_utc(start)} .. {iso_utc(end)}, {series} series, "
          f"{weeks:.1f} weeks, detector {DETECTOR_VERSION}\n")
    print("| type | events | per series-week | " + " | ".join(LEVELS) + " |")
    print("| --- | ---: | ---: | " + " | ".join("---:" for _ in LEVELS) + " |")
    for kind in (*TYPES, "all"):
        mine = [e for e in events if kind in ("all", e.type)]
        counts = Counter(e.severity for e in mine)
        rate = len(mine) / per if per else 0.0
        print(f"| {kind} | {len(mine)} | {rate:.3f} | "
              + " | ".join(str(counts[level]) for level in LEVELS) + " |")


def read_labels(path: Path) -> list[Label]:
    """Labels of a CSV file; a header line (the field names) is allowed. Raises BuildError
    naming the file, line and field of the first bad one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"{path}: cannot read the labels: {exc}") from exc
    out = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or (number == 1 and tuple(c.strip() for c in row) == LABEL_FIELDS):
            continue
        if len(row) != len(LABEL_FIELDS):
            raise BuildError(f"{path}:{number}: expected {len(LABEL_FIELDS)} fields "
                             f"({','.join(LABEL_FIELDS)}), got {len(row)}")
        target, region, probe, onset = (c.strip() for c in row)
        for field, value in (("target", target), ("region", region)):
            if not value:
                raise BuildError(f"{path}:{number}: {field}: empty")
        if probe not in PROBES:
            raise BuildError(f"{path}:{number}: probe: {probe!r} is not one of "
                             f"{', '.join(PROBES)}")
        onset_ts = parse_iso(onset)
        if onset_ts is None:
            raise BuildError(f"{path}:{number}: onset_iso: {onset!r} is not an ISO 8601 time")
        out.append(Label(target, region, probe, onset_ts // ROUND_S * ROUND_S))
    return out


def parse_iso(text: str) -> int | None:
    """Unix seconds of an ISO 8601 date or time (UTC unless it says otherwise), or None."""
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return int(at.timestamp())


def _iso_arg(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    at = parse_iso(text)
    if at is None:
        raise BuildError(f"{flag}: {text!r} is not an ISO 8601 time")
    return at


def score(events: list[Event], labels: list[Label]) -> dict:
    """Precision (events matching a label), recall (labels matched), onset error in rounds
    (of each matched label's nearest event)."""
    matched_events, errors = set(), []
    for lab in labels:
        near = [e for e in events if _matches(e, lab)]
        for e in near:
            matched_events.add(e.id)
        if near:
            errors.append(min(abs(e.started_at - lab.onset_ts) for e in near) // ROUND_S)
    return {"events": len(events), "labels": len(labels),
            "precision": round(len(matched_events) / len(events), 4) if events else None,
            "recall": round(len(errors) / len(labels), 4) if labels else None,
            "median_onset_error_rounds": float(np.median(errors)) if errors else None,
            "mean_onset_error_rounds": round(float(np.mean(errors)), 3) if errors else None}


def _matches(e: Event, lab: Label) -> bool:
    probe_ok = e.probe == lab.probe or e.probe == "trace" or lab.probe == "trace"
    return (e.target == lab.target and lab.region in e.regions and probe_ok
            and abs(e.started_at - lab.onset_ts) <= MATCH_ROUNDS * ROUND_S)


def _summary_text(s: dict) -> str:
    def fmt(x):
        return "n/a" if x is None else f"{x:.3f}"
    return (f"\nlabels: {s['labels']}, events: {s['events']}; precision {fmt(s['precision'])}, "
            f"recall {fmt(s['recall'])}, onset error median "
            f"{fmt(s['median_onset_error_rounds'])} rounds, mean "
            f"{fmt(s['mean_onset_error_rounds'])} (a match: same target, region and probe, "
            f"onset within {MATCH_ROUNDS} rounds)")

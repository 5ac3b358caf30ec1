"""The round runner: every probe of every target at once, bounded, each under its deadline.

The runner owns deadlines, concurrency and timestamps; probes only measure. A round over 100+
targets therefore lasts about one probe's budget, not the sum of them.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from collect.errors import CollectError
from collect.probes import PROBES, ProbeOptions
from collect.probes.sampling import describe_error, lost
from collect.records import ProbeResult, Target

OnResult = Callable[[ProbeResult], None]


def plan_round(targets: Iterable[Target], opts: ProbeOptions) -> list[tuple[Target, str]]:
    """(target, probe) pairs: each target's probes, narrowed to opts.probes when given."""
    return [
        (target, name)
        for target in targets
        for name in target.probes
        if opts.probes is None or name in opts.probes
    ]


async def run_round(
    targets: Iterable[Target],
    region: str,
    round_ts: int,
    opts: ProbeOptions,
    on_result: OnResult | None = None,
) -> list[ProbeResult]:
    """One result per (target, probe), in plan order; on_result sees each as it finishes.
    Raises CollectError on a setup problem (e.g. no ICMP permission), cancelling the rest."""
    gate = asyncio.Semaphore(opts.concurrency)

    async def run(target: Target, name: str) -> ProbeResult:
        async with gate:
            result = await run_probe(target, name, region, round_ts, opts)
        if on_result is not None:
            on_result(result)
        return result

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run(t, name)) for t, name in plan_round(targets, opts)]
    except* CollectError as setup:
        raise setup.exceptions[0] from None
    return [task.result() for task in tasks]


async def run_probe(
    target: Target, name: str, region: str, round_ts: int, opts: ProbeOptions
) -> ProbeResult:
    """One probe under its deadline: its own budget plus one timeout for name resolution.
    A probe that overruns, or fails with an OSError it did not handle, is a lost result."""
    started = time.time()
    try:
        async with asyncio.timeout(opts.budget_s(name) + opts.timeout_s):
            measurement = await PROBES[name](target, opts)
    except TimeoutError:
        measurement = lost(opts.samples_for(name), "timeout")
    except OSError as exc:
        measurement = lost(opts.samples_for(name), describe_error(exc))
    return ProbeResult(target.host, region, name, round_ts, started, measurement)


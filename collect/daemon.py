"""`nettrace collect --every 15m --push URL --spool DIR`: rounds on the grid, each spooled
(fsync'd) before it is pushed; a drain task pushes the spool oldest first with retries.

The grid is multiples of every_s since the epoch (900 s gives :00/:15/:30/:45 UTC), so all
regions measure the same moment. A restart re-measures the slot it interrupted (late, with the
same round id, so a result central already has counts as a duplicate).
"""
from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from collect import spool
from collect.push import Backoff, PushTarget, drain
from collect.records import ProbeResult, Target
from collect.records import wire_safe

log = logging.getLogger("nettrace.daemon")
RoundFn = Callable[[int], Awaitable[list[ProbeResult]]]


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    every_s: int
    spool_dir: Path
    push: PushTarget
    max_spool_bytes: int = spool.DEFAULT_MAX_BYTES
    first_round_now: bool = False  # measure the current slot at once, then follow the grid

    @property
    def backoff(self) -> Backoff:
        # Retry at least three times a round, never slower than every 5 minutes.
        return Backoff(base_s=min(1.0, self.every_s / 10), cap_s=min(300.0, self.every_s / 3))

    @property
    def http_timeout_s(self) -> float:
        return min(30.0, 2.0 * self.every_s)


def grid_slot(now: float, every_s: int) -> int:
    return int(now // every_s * every_s)


def first_slot(config: DaemonConfig, now: float) -> int:
    """The current slot when asked to start now or when a restart left it unmeasured;
    otherwise the next one, so a fresh start never measures off the grid."""
    current = grid_slot(now, config.every_s)
    done = spool.last_round(config.spool_dir)
    if done is not None and done >= current:
        return current + config.every_s
    if config.first_round_now or done is not None:
        return current
    return current + config.every_s


async def measure_loop(config: DaemonConfig, round_fn: RoundFn, wake: asyncio.Event) -> None:
    slot = first_slot(config, time.time())
    while True:
        await asyncio.sleep(max(0.0, slot - time.time()))
        results = await round_fn(slot)
        spool.append_round(config.spool_dir, slot, [wire_safe(r.to_json()) for r in results])
        spool.enforce_cap(config.spool_dir, config.max_spool_bytes)
        log.info("round %s: %d results spooled", slot, len(results))
        wake.set()
        following = grid_slot(time.time(), config.every_s) + config.every_s
        if following > slot + 2 * config.every_s:
            log.warning("round %s overran; skipping %d slots", slot,
                        (following - slot) // config.every_s - 2)
        slot = max(following, slot + config.every_s)


async def drain_loop(config: DaemonConfig, wake: asyncio.Event) -> None:
    rng = random.Random()
    async with httpx.AsyncClient(timeout=config.http_timeout_s) as client:
        while True:
            await wake.wait()
            wake.clear()
            await drain(client, config.push, config.spool_dir, config.backoff, rng)


async def serve(config: DaemonConfig, round_fn: RoundFn) -> None:
    """Measure and push until SIGTERM/SIGINT; the spool keeps whatever is unpushed."""
    wake = asyncio.Event()
    wake.set()  # drain what a previous run left behind
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(measure_loop(config, round_fn, wake)),
             asyncio.create_task(drain_loop(config, wake))]
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task in [*tasks, stopper]:
        task.cancel()
    for task in done:
        if task is not stopper:
            task.result()  # a setup error in a round stops the daemon with its message


def run_daemon(targets: tuple[Target, ...], region: str, config: DaemonConfig, opts) -> int:
    """Run rounds of targets from region on config's grid until SIGTERM/SIGINT."""
    from collect.runner import run_round

    async def round_fn(round_ts: int) -> list[ProbeResult]:
        return await run_round(targets, region, round_ts, opts)

    asyncio.run(serve(config, round_fn))
    return 0

"""Signed pushes of spooled rounds to central, oldest first, retried with exponential
backoff and jitter until central answers. A round leaves the spool only once central has
acknowledged all of it durably (200 with "durable": true: committed and synced to disk).
A batch central refuses as invalid (400/413) is moved aside, since retrying it can never
succeed; everything else is retried, 503 (busy) and 507 (central's disk full) included."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from collect import spool
from collect.signing import sign

log = logging.getLogger("nettrace.push")
BATCH_RESULTS = 700
PUSH_PATH = "/v1/results"
RETRYABLE = frozenset({401, 408, 425, 429})  # 401: a secret or clock a human may fix


class PushFailed(Exception):
    """Central was unreachable or answered with a transient error; retry later."""


class PushRejected(Exception):
    """Central refused the batch as invalid; retrying the same bytes cannot help."""


@dataclass(frozen=True, slots=True)
class PushTarget:
    url: str  # the full endpoint, e.g. http://central:8470/v1/results
    region: str
    secret: bytes


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 1.0
    cap_s: float = 300.0

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Equal jitter: half the exponential step fixed, half random."""
        step = min(self.cap_s, self.base_s * 2 ** min(attempt, 30))
        return step / 2 + rng.uniform(0, step / 2)


def endpoint(url: str) -> str:
    """`--push http://central:8470` means its /v1/results; a URL with a path is used as is."""
    return url.rstrip("/") + PUSH_PATH if urlsplit(url).path in ("", "/") else url


def batch_body(lines: list[bytes]) -> bytes:
    return b'{"results":[' + b",".join(lines) + b"]}"


async def push_once(client: httpx.AsyncClient, target: PushTarget, lines: list[bytes],
                    now: float) -> tuple[int, int]:
    """One signed POST; returns (stored, duplicates) or raises PushFailed/PushRejected."""
    body = batch_body(lines)
    headers = {"Content-Type": "application/json", **sign(target.secret, target.region, int(now), body)}
    try:
        resp = await client.post(target.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise PushFailed(f"{type(exc).__name__}: {exc}") from None
    if resp.status_code == 200:
        try:
            reply = resp.json()
            counts = int(reply["stored"]), int(reply["duplicates"])
        except (ValueError, KeyError, TypeError):  # not central (a wrong URL, a portal): keep it
            raise PushFailed(f"HTTP 200 but not an ingest reply: {resp.text[:300]}") from None
        if reply.get("durable") is not True:  # a power cut at central could still lose it
            raise PushFailed(f"HTTP 200 but central did not confirm a durable commit: "
                             f"{resp.text[:300]}")
        return counts
    detail = f"HTTP {resp.status_code}: {resp.text[:300]}"
    if resp.status_code in RETRYABLE or resp.status_code >= 500:
        raise PushFailed(detail)
    raise PushRejected(detail)


async def push_with_retry(client: httpx.AsyncClient, target: PushTarget, lines: list[bytes],
                          backoff: Backoff, rng: random.Random) -> tuple[int, int]:
    attempt = 0
    while True:
        try:
            return await push_once(client, target, lines, time.time())
        except PushFailed as exc:
            delay = backoff.delay_s(attempt, rng)
            attempt += 1
            log.warning("push of %d results failed (%s); retry %d in %.1f s",
                        len(lines), exc, attempt, delay)
            await asyncio.sleep(delay)


async def drain(client: httpx.AsyncClient, target: PushTarget, spool_dir: Path,
                backoff: Backoff, rng: random.Random) -> int:
    """Push every pending segment, oldest first, removing each once central has it all.
    Returns the number of results central acknowledged."""
    acknowledged = 0
    for path in spool.pending(spool_dir):
        try:
            segment = spool.read_segment(path)
        except FileNotFoundError:  # dropped by the spool cap meanwhile
            continue
        stored = duplicates = 0
        try:
            for start in range(0, len(segment.lines), BATCH_RESULTS):
                chunk = segment.lines[start:start + BATCH_RESULTS]
                s, d = await push_with_retry(client, target, chunk, backoff, rng)
                stored, duplicates = stored + s, duplicates + d
        except PushRejected as exc:
            spool.reject(segment, str(exc))
            continue
        spool.remove(segment)
        acknowledged += stored + duplicates
        log.info("pushed round %s: stored %d, duplicates %d", segment.round_ts, stored, duplicates)
    return acknowledged

"""The webhook delivery worker: fans signal transitions out into the SQLite queue and sends
each queued delivery, at least once, until it is delivered or 24 h have passed.

- Durable: a delivery is queued in the transaction that moves the fan-out cursor, and leaves
  the queue only once its answer is stored; a crash (kill -9) at any point re-sends what was in
  flight under the same X-NetTrace-Delivery id, and loses nothing.
- Order: at most one attempt per webhook at a time, the earliest due first, so a healthy
  receiver gets a webhook's deliveries in the order of the transitions.
- Retries: after a failure (no 2xx, a timeout, a refused address), exponential backoff from
  first_retry_s doubling to max_retry_s, with +-20 % jitter; given up after give_up_s.
- After max_failures consecutive failed attempts the webhook is disabled, with the reason.
- Attempts are stored in group commits (whatever finished while the last commit ran) by a
  task of their own, so sending never waits for a commit.
"""
from __future__ import annotations

import asyncio
import heapq
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from collect.records import iso_utc
from proxy import webhook_store as store
from proxy.payloads import delivery_headers
from proxy.ssrf import TargetPolicy, UnsafeTarget, check_url, pinned_transport
from proxy.webhook_store import Attempt, Queued, Store, Webhook

log = logging.getLogger("nettrace.proxy")
FAN_OUT_ROWS = 10  # transitions per fan-out transaction: 10,000 rows for 1,000 webhooks
LOAD_ROWS = 5000
READ_LIMIT_BYTES = 64 * 1024  # of a receiver's answer (read so the connection can be reused)
# Each attempt takes an idle client of its own: httpcore's pool scans every connection and
# waiting request on each change, so one shared pool of 64 delivers ~60/s where 64 small ones
# deliver ~900/s (bench/webhooks.py).
CONNECTIONS_PER_CLIENT = 4
JITTER = 0.2


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    allow_local: bool = False  # admit http:// and loopback receivers (tests, `make run`)
    timeout_s: float = 10.0  # for one attempt, connecting to answer
    first_retry_s: float = 30.0
    max_retry_s: float = 3600.0
    give_up_s: float = 86400.0
    max_failures: int = 50  # consecutive failed attempts before a webhook is disabled
    poll_s: float = 1.0  # how often new transitions and key changes are looked for
    max_in_flight: int = 64

    def retry_delay_s(self, attempts: int) -> float:
        """The wait after the attempts-th failed attempt of a delivery (1 for the first)."""
        base = min(self.first_retry_s * 2 ** (attempts - 1), self.max_retry_s)
        return base * random.uniform(1 - JITTER, 1 + JITTER)


class DeliveryWorker:
    def __init__(self, db: Store, pepper: bytes, hosts_of: Callable[[str], frozenset[str]],
                 policy: DeliveryPolicy, clock: Callable[[], float]):
        self._db = db
        self._pepper = pepper
        self._hosts_of = hosts_of
        self._policy = policy
        self._targets = TargetPolicy(policy.allow_local)
        self._clock = clock
        self._hooks: dict[str, Webhook] = {}
        self._failures: dict[str, int] = {}  # consecutive failures, ahead of the stored count
        self._queues: dict[str, list[tuple[float, int, Queued]]] = {}  # per webhook, a heap
        self._ready: list[tuple[float, str]] = []  # (head's next_at, webhook) of idle webhooks
        self._busy: set[str] = set()
        self._done: list[Attempt] = []
        self._last_qid = 0
        self._kick = asyncio.Event()
        self._flush_kick = asyncio.Event()
        self._changed = True
        self._task: asyncio.Task | None = None
        self._flusher: asyncio.Task | None = None
        self._sending: set[asyncio.Task] = set()
        self._clients: list[httpx.AsyncClient] = []
        self._idle: list[httpx.AsyncClient] = []  # most recently used last: its connections live

    def start(self) -> None:
        context = httpx.create_ssl_context(trust_env=False)
        self._clients = [httpx.AsyncClient(
            transport=pinned_transport(self._targets, CONNECTIONS_PER_CLIENT, context),
            follow_redirects=False, timeout=self._policy.timeout_s, trust_env=False)
            for _ in range(self._policy.max_in_flight)]
        self._idle = list(self._clients)
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, self._flusher, *self._sending) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in self._clients:
            await client.aclose()

    def changed(self) -> None:
        """A webhook was added or removed: load it (and its ping) now."""
        self._changed = True
        self._kick.set()

    async def _run(self) -> None:
        next_poll = 0.0
        while True:
            try:
                if self._changed or time.monotonic() >= next_poll:
                    self._changed = False
                    next_poll = time.monotonic() + self._policy.poll_s
                    await self._poll()
                await self._dispatch()
            except sqlite3.Error as exc:  # busy or locked: the queue is intact, try again
                log.warning("webhook worker: %s", exc)
                await asyncio.sleep(self._policy.poll_s)
            except Exception:  # noqa: BLE001 - a bug must not stop every webhook for good
                log.exception("webhook worker failed; retrying")
                await asyncio.sleep(self._policy.poll_s)
            wait_s = next_poll - time.monotonic()
            if self._ready and len(self._busy) < self._policy.max_in_flight:  # else: a kick
                wait_s = min(wait_s, self._ready[0][0] - self._clock())
            try:
                await asyncio.wait_for(self._kick.wait(), max(wait_s, 0.0))
            except TimeoutError:
                pass
            self._kick.clear()

    async def _flush(self) -> None:
        """Store finished attempts, a batch per commit, until stopped."""
        while True:
            await self._flush_kick.wait()
            self._flush_kick.clear()
            while self._done:
                batch = list(self._done)  # attempts finishing meanwhile are appended
                try:
                    await self._db.run(store.record_attempts, batch)
                except Exception as exc:  # noqa: BLE001 - busy, locked or a bug: kept, tried again
                    log.warning("webhook attempts not stored yet: %r", exc)
                    await asyncio.sleep(self._policy.poll_s)
                    continue
                self._done = self._done[len(batch):]

    async def _poll(self) -> None:
        """Read the webhooks (keys may have been revoked), fan out new transitions, and take
        into memory what was queued since the last poll."""
        await self._load_hooks()
        if await self._db.run(store.has_transitions_after_cursor):
            now = self._clock()
            while await self._db.run(store.fan_out, list(self._hooks.values()), self._hosts_of,
                                     now, FAN_OUT_ROWS) == FAN_OUT_ROWS:
                pass
        while rows := await self._db.run(store.queued_after, self._last_qid, LOAD_ROWS):
            if any(q.webhook_id not in self._hooks for q in rows):
                await self._load_hooks()  # registered since they were read: a row implies its hook
            self._last_qid = rows[-1].qid
            for q in rows:
                self._push(q)

    async def _load_hooks(self) -> None:
        hooks = {h.id: h for h in await self._db.run(store.active_webhooks)}
        self._failures = {h: self._failures.get(h, hooks[h].failures) for h in hooks}
        self._hooks = hooks

    def _push(self, q: Queued) -> None:
        if q.webhook_id not in self._hooks:
            return
        heap = self._queues.setdefault(q.webhook_id, [])
        heapq.heappush(heap, (q.next_at, q.qid, q))
        if q.webhook_id not in self._busy:
            heapq.heappush(self._ready, (heap[0][0], q.webhook_id))

    async def _dispatch(self) -> None:
        """Start the due deliveries, one per idle webhook, up to max_in_flight in all."""
        now = self._clock()
        chosen: list[Queued] = []
        while (self._ready and self._ready[0][0] <= now
               and len(self._busy) < self._policy.max_in_flight):
            due_at, hook_id = heapq.heappop(self._ready)
            heap = self._queues.get(hook_id)
            if hook_id in self._busy or not heap or heap[0][0] != due_at:
                continue  # a stale entry: the webhook is busy, emptied or rescheduled
            if hook_id not in self._hooks:
                del self._queues[hook_id]
                continue
            chosen.append(heapq.heappop(heap)[2])
            self._busy.add(hook_id)
        if chosen:
            found = await self._db.run(store.bodies, [q.qid for q in chosen], readonly=True)
            for q in chosen:
                if q.qid in found:
                    task = asyncio.get_running_loop().create_task(self._send(q, found[q.qid]))
                    self._sending.add(task)
                    task.add_done_callback(self._sending.discard)
                else:  # removed with its webhook meanwhile
                    self._release(q.webhook_id)

    def _release(self, hook_id: str) -> None:
        self._busy.discard(hook_id)
        heap = self._queues.get(hook_id)
        if heap:
            heapq.heappush(self._ready, (heap[0][0], hook_id))

    async def _send(self, q: Queued, body: bytes) -> None:
        hook = self._hooks.get(q.webhook_id)
        if hook is None:
            return self._release(q.webhook_id)
        at = self._clock()
        started = time.monotonic()
        secret = store.signing_secret(self._pepper, hook.salt).encode()
        headers = delivery_headers(secret, int(at), q.id, q.event, body)
        status, error = None, None
        client = self._idle.pop()  # one is idle: at most max_in_flight webhooks are busy
        try:
            async with asyncio.timeout(self._policy.timeout_s):
                check_url(hook.url, self._targets)  # the setting may have changed since
                response = await client.send(
                    client.build_request("POST", hook.url, content=body, headers=headers),
                    stream=True)
                try:
                    await _read_some(response)
                finally:
                    await response.aclose()
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except (TimeoutError, httpx.TimeoutException):
            error = f"no answer within {self._policy.timeout_s:g} s"
        except UnsafeTarget as exc:
            error = f"refused: {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - a failed attempt, never a webhook stuck busy
            log.exception("webhook %s: delivery %s", hook.id, q.id)
            error = f"internal error ({type(exc).__name__})"
        finally:
            self._idle.append(client)
        self._settle(hook, q, at, status, error, (time.monotonic() - started) * 1000)

    def _settle(self, hook: Webhook, q: Queued, at: float, status: int | None,
                error: str | None, latency_ms: float) -> None:
        q.attempts += 1
        reason = None
        if error is None:
            failures, outcome = 0, "delivered"
        else:
            failures = self._failures.get(hook.id, 0) + 1
            q.next_at = self._clock() + self._policy.retry_delay_s(q.attempts)
            if failures >= self._policy.max_failures:
                outcome = "disabled"
                reason = (f"disabled after {failures} consecutive failed deliveries; the last, "
                          f"at {iso_utc(int(at))}: {error}")
            elif q.next_at - q.queued_at > self._policy.give_up_s:
                outcome = "gave_up"
            else:
                outcome = "retrying"
        self._failures[hook.id] = failures
        self._done.append(Attempt(q, at, status, error, round(latency_ms, 3), outcome, failures,
                                  reason))
        if outcome == "disabled":
            log.warning("webhook %s %s", hook.id, reason)
            self._hooks.pop(hook.id, None)
            self._queues.pop(hook.id, None)
        elif outcome == "retrying":
            heapq.heappush(self._queues.setdefault(hook.id, []), (q.next_at, q.qid, q))
        self._release(hook.id)
        self._kick.set()
        self._flush_kick.set()


async def _read_some(response: httpx.Response) -> None:
    """Read at most READ_LIMIT_BYTES of an answer: a receiver cannot make us read for ever."""
    seen = 0
    async for chunk in response.aiter_raw():
        seen += len(chunk)
        if seen >= READ_LIMIT_BYTES:
            break

"""GET /api/v1/stream (WebSocket, enterprise): each round's results as they are ingested, and
each signal as it opens or resolves.

One poller per server reads `results` by rowid and `signal_transitions` by seq while anyone
listens and fans each new (region, round) and each transition out to every subscriber; a
subscriber that falls MAX_QUEUED messages behind is closed (1013) rather than buffered without
bound. Every KEY_CHECK_S the poller reads the keys of the open streams again: a revoked key, or
one whose tier no longer grants the stream, is closed (1008) within a second.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from dataclasses import dataclass

from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.contract import STREAM, TIERS
from collect.records import iso_utc
from proxy.access import SUBPROTOCOL, Access
from proxy.errors import ApiError
from proxy.keys import rows_by_id
from proxy.limits import MAX_STREAMS_PER_KEY, Slots
from proxy.rows import json_after, last_rowid, last_seq, transitions_after

MAX_QUEUED = 256
POLL_ROWS = 10_000
KEY_CHECK_S = 0.5
CLOSE_TOO_SLOW = 1013
CLOSE_POLICY = 1008
log = logging.getLogger("nettrace.proxy")


@dataclass(frozen=True, slots=True)
class Close:
    """The last item of a subscriber's queue: close the socket with this code and reason."""
    code: int
    reason: str


@dataclass(frozen=True, slots=True, eq=False)  # one per socket, hashed by identity
class Subscriber:
    key_id: int
    queue: asyncio.Queue  # JSON text messages, then perhaps one Close


def round_messages(rows: list[tuple[int, str, int, str]]) -> list[str]:
    """json_after rows grouped by (region, round) in ingest order, one JSON message each."""
    groups: dict[tuple[str, int], list[str]] = {}
    for _, region, round_ts, result in rows:
        groups.setdefault((region, round_ts), []).append(result)
    return [json.dumps({"type": "round", "region": region, "round_id": iso_utc(round_ts),
                        "round_ts": round_ts})[:-1] + ',"results":[' + ",".join(results) + "]}"
            for (region, round_ts), results in groups.items()]


def refusal(key_id: int, stored: dict) -> str | None:
    """Why the key key_id may no longer stream (stored: rows_by_id), or None while it may."""
    row = stored.get(key_id)
    if row is None or row.revoked_at is not None:
        return "key revoked"
    if STREAM not in TIERS[row.tier].features:
        return f"a {row.tier} key may not stream"
    return None


class StreamHub:
    def __init__(self, reader: sqlite3.Connection, poll_s: float):
        self._reader = reader
        self._poll_s = poll_s
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task | None = None
        self.after_rowid = 0
        self.after_seq = 0

    def subscribe(self, key_id: int) -> Subscriber:
        if self._task is None or self._task.done():
            self.after_rowid = last_rowid(self._reader)
            self.after_seq = last_seq(self._reader)
            self._task = asyncio.get_running_loop().create_task(self._run())
        sub = Subscriber(key_id, asyncio.Queue(MAX_QUEUED))
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    async def _run(self) -> None:
        tick_s = min(self._poll_s, KEY_CHECK_S)
        next_poll = next_check = time.monotonic()
        while self._subscribers:
            await asyncio.sleep(tick_s)
            now = time.monotonic()
            try:
                if now >= next_check:
                    next_check = now + KEY_CHECK_S
                    self._check_keys()
                if now >= next_poll:
                    next_poll = now + self._poll_s
                    self._poll()
            except sqlite3.Error as exc:  # a busy or swapped file: try again next tick
                log.warning("stream poll failed: %s", exc)

    def _check_keys(self) -> None:
        stored = rows_by_id(self._reader, sorted({s.key_id for s in self._subscribers}))
        for sub in list(self._subscribers):
            if (why := refusal(sub.key_id, stored)) is not None:
                self._close(sub, Close(CLOSE_POLICY, why))

    def _poll(self) -> None:
        rows = json_after(self._reader, self.after_rowid, POLL_ROWS)
        if rows:
            self.after_rowid = rows[-1][0]
            for message in round_messages(rows):
                self._publish(message)
        transitions = transitions_after(self._reader, self.after_seq, POLL_ROWS)
        if transitions:
            self.after_seq = transitions[-1][0]
            for _, message in transitions:
                self._publish(message)

    def _publish(self, message: str) -> None:
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                self._close(sub, Close(CLOSE_TOO_SLOW, "too slow: messages were dropped"))

    def _close(self, sub: Subscriber, close: Close) -> None:
        """Drop sub's backlog and leave it only close."""
        self._subscribers.discard(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(close)

    async def stop(self) -> None:
        self._subscribers.clear()
        if self._task is not None:
            self._task.cancel()


def _deny(exc: ApiError) -> Response:
    return JSONResponse(exc.body(), exc.status, {**exc.headers, "cache-control": "no-store"})


class Stream:
    def __init__(self, hub: StreamHub, access: Access):
        self._hub = hub
        self._access = access
        self._slots = Slots("streams", MAX_STREAMS_PER_KEY)

    async def http(self, request) -> Response:
        """A plain GET: the same key checks, then 426 naming the upgrade it needs."""
        self._access.authenticate(request, STREAM)
        raise ApiError(426, "upgrade_required", "connect with a WebSocket client",
                       {"upgrade": "websocket", "connection": "Upgrade"})

    async def websocket(self, ws: WebSocket) -> None:
        try:
            row = self._access.authenticate(ws, STREAM)
            self._slots.take(row.id)
        except ApiError as exc:
            return await ws.send_denial_response(_deny(exc))
        try:
            try:
                headers = await self._access.charge(row)
            except ApiError as exc:
                return await ws.send_denial_response(_deny(exc))
            offered = ws.scope.get("subprotocols") or []
            await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None,
                            headers=[(k.encode(), v.encode()) for k, v in headers.items()])
            sub = self._hub.subscribe(row.id)
            try:
                await ws.send_json({"type": "subscribed", "after_rowid": self._hub.after_rowid,
                                    "after_seq": self._hub.after_seq})
                await self._pump(ws, sub.queue)
            except WebSocketDisconnect:
                pass
            finally:
                self._hub.unsubscribe(sub)
        finally:
            self._slots.give_back(row.id)

    async def _pump(self, ws: WebSocket, queue: asyncio.Queue) -> None:
        """Send queued messages until the client leaves (any message it sends is ignored) or
        the hub closes it."""
        receiving = asyncio.ensure_future(ws.receive())
        try:
            while True:
                getting = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({receiving, getting}, return_when=asyncio.FIRST_COMPLETED)
                if getting not in done:
                    getting.cancel()
                if receiving in done:
                    if receiving.result()["type"] == "websocket.disconnect":
                        return
                    receiving = asyncio.ensure_future(ws.receive())
                if getting in done:
                    if isinstance(message := getting.result(), Close):
                        await ws.close(message.code, message.reason)
                        return
                    await ws.send_text(message)
        finally:
            receiving.cancel()

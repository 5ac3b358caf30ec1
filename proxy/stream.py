"""GET /api/v1/stream (WebSocket, enterprise): each round's results as they are ingested.

One poller per server reads `results` by rowid while anyone listens and fans each new
(region, round) out to every subscriber; a subscriber that falls MAX_QUEUED rounds behind is
closed (1013) rather than buffered without bound.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sqlite3

from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.contract import STREAM
from collect.records import iso_utc
from proxy.access import Access
from proxy.errors import ApiError
from proxy.rows import json_after, last_rowid

MAX_QUEUED = 256
POLL_ROWS = 10_000
CLOSE_TOO_SLOW = 1013
log = logging.getLogger("nettrace.proxy")


def round_messages(rows: list[tuple[int, str, int, str]]) -> list[str]:
    """json_after rows grouped by (region, round) in ingest order, one JSON message each."""
    groups: dict[tuple[str, int], list[str]] = {}
    for _, region, round_ts, result in rows:
        groups.setdefault((region, round_ts), []).append(result)
    return [json.dumps({"type": "round", "region": region, "round_id": iso_utc(round_ts),
                        "round_ts": round_ts})[:-1] + ',"results":[' + ",".join(results) + "]}"
            for (region, round_ts), results in groups.items()]


class StreamHub:
    def __init__(self, reader: sqlite3.Connection, poll_s: float):
        self._reader = reader
        self._poll_s = poll_s
        self._queues: set[asyncio.Queue] = set()
        self._task: asyncio.Task | None = None
        self.after_rowid = 0

    def subscribe(self) -> asyncio.Queue:
        if self._task is None or self._task.done():
            self.after_rowid = last_rowid(self._reader)
            self._task = asyncio.get_running_loop().create_task(self._poll())
        queue: asyncio.Queue = asyncio.Queue(MAX_QUEUED)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._queues.discard(queue)

    async def _poll(self) -> None:
        while self._queues:
            await asyncio.sleep(self._poll_s)
            try:
                rows = json_after(self._reader, self.after_rowid, POLL_ROWS)
            except sqlite3.Error as exc:  # a busy or swapped file: try again next tick
                log.warning("stream poll failed: %s", exc)
                continue
            if rows:
                self.after_rowid = rows[-1][0]
                for message in round_messages(rows):
                    self._publish(message)

    def _publish(self, message: str) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:  # drop its backlog and tell it to go
                self._queues.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)

    async def stop(self) -> None:
        self._queues.clear()
        if self._task is not None:
            self._task.cancel()


class Stream:
    def __init__(self, hub: StreamHub, access: Access):
        self._hub = hub
        self._access = access

    async def http(self, request) -> Response:
        """A plain GET: the same key checks, then 426 naming the upgrade it needs."""
        self._access.authenticate(request, STREAM)
        raise ApiError(426, "upgrade_required", "connect with a WebSocket client",
                       {"upgrade": "websocket", "connection": "Upgrade"})

    async def websocket(self, ws: WebSocket) -> None:
        try:
            row = self._access.authenticate(ws, STREAM)
            headers = await self._access.charge(row)
        except ApiError as exc:
            await ws.send_denial_response(JSONResponse(exc.body(), exc.status, exc.headers))
            return
        await ws.accept(headers=[(k.encode(), v.encode()) for k, v in headers.items()])
        queue = self._hub.subscribe()
        try:
            await ws.send_json({"type": "subscribed", "after_rowid": self._hub.after_rowid})
            await self._pump(ws, queue)
        except WebSocketDisconnect:
            pass
        finally:
            self._hub.unsubscribe(queue)

    async def _pump(self, ws: WebSocket, queue: asyncio.Queue) -> None:
        """Send queued rounds until the client leaves (any message it sends is ignored)."""
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
                    if (message := getting.result()) is None:
                        await ws.close(CLOSE_TOO_SLOW, "too slow: rounds were dropped")
                        return
                    await ws.send_text(message)
        finally:
            receiving.cancel()

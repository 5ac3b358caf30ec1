"""GET /api/v1/export: results streamed from SQLite as CSV or JSON lines, never held whole.

Pages are read by keyset (proxy/rows.py), each in one short statement in a worker thread, so a
client that reads slowly or stops holds no read snapshot and never keeps the WAL from being
checkpointed; one that leaves ends the export at once, and the server drops one that stops
reading (api/deadlines.py). Each key may run MAX_EXPORTS_PER_KEY at once.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from api.contract import DAY_S, EXPORT, EXPORT_FORMATS, HOUR_S, TIERS
from collect.records import iso_utc
from db.connection import connect
from proxy import params
from proxy.access import Access
from proxy.errors import ApiError
from proxy.limits import MAX_EXPORTS_PER_KEY, Slots
from proxy.rows import csv_header, page_after, start_of

DEFAULT_SPAN_S = 24 * HOUR_S
READ_THREADS = 2  # pages read at once across all exports: the event loop keeps a core


@dataclass(frozen=True, slots=True)
class ExportQuery:
    db_path: Path
    fmt: str  # a key of EXPORT_FORMATS
    from_s: int  # unix s, rounds starting at or after it
    to_s: int  # unix s, rounds starting before it


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class ExportResponse(Response):
    """The pages of one export, each sent once the client took the last; `release` runs on every
    way out (done, client gone, connection dropped, server stopping)."""

    def __init__(self, query: ExportQuery, headers: dict[str, str], pool: ThreadPoolExecutor,
                 release: Callable[[], None]):
        self.status_code = 200
        self.background = None
        self.raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        self.raw_headers.append((b"content-type", EXPORT_FORMATS[query.fmt].encode()))
        self._query = query
        self._pool = pool
        self._release = release

    async def __call__(self, scope, receive, send) -> None:
        q = self._query
        conn = connect(q.db_path, readonly=True)
        gone = asyncio.ensure_future(_disconnected(receive))
        reading: Future | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            position = None if scope["method"] == "HEAD" else start_of(q.from_s)
            body = csv_header() if q.fmt == "csv" and position is not None else b""
            while position is not None and not gone.done():
                reading = self._pool.submit(page_after, conn, q.fmt, position, q.to_s)
                page, position = await asyncio.wrap_future(reading)
                await send({"type": "http.response.body", "body": body + page, "more_body": True})
                body = b""
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()
            if reading is None:
                conn.close()
            else:  # a page still being read when cancelled closes the connection when it ends
                reading.add_done_callback(lambda _: conn.close())
            self._release()


class Export:
    def __init__(self, db_path: Path, access: Access):
        self._db_path = db_path
        self._access = access
        self._slots = Slots("exports", MAX_EXPORTS_PER_KEY)
        self._pool = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="export")

    async def export(self, request: Request) -> Response:
        """?from=&to= (default: the 24 h before to; from capped by the tier's history),
        ?format=csv|jsonl."""
        row = self._access.authenticate(request, EXPORT)
        fmt = params.text(request, "format", "csv")
        if fmt not in EXPORT_FORMATS:
            raise ApiError(400, "bad_parameter", "format must be csv or jsonl")
        now_s = int(self._access.now_s())
        # Nothing is stored later than a day ahead; a date as `to` includes that whole day.
        to_s = min(params.instant(request, "to", now_s, end_of_day=True), now_s + DAY_S)
        # Like ?hours=, the window is capped by the tier: from never reaches further back.
        oldest_s = now_s - TIERS[row.tier].history_hours * HOUR_S
        from_s = max(params.instant(request, "from", to_s - DEFAULT_SPAN_S), oldest_s)
        to_s = max(to_s, from_s)  # from after to is an empty export, not an error
        self._slots.take(row.id)
        try:
            headers = await self._access.charge(row)
        except BaseException:
            self._slots.give_back(row.id)
            raise
        name = f"nettrace-{iso_utc(from_s)}-{iso_utc(to_s)}.{fmt}".replace(":", "")
        headers["content-disposition"] = f'attachment; filename="{name}"'
        headers["cache-control"] = "private, no-store"
        return ExportResponse(ExportQuery(self._db_path, fmt, from_s, to_s), headers, self._pool,
                              lambda: self._slots.give_back(row.id))

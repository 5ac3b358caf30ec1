"""GET /api/v1/export: results streamed from SQLite as CSV or JSON lines, never held whole."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from api.contract import DAY_S, EXPORT, EXPORT_FORMATS, HOUR_S, TIERS
from db.connection import connect
from collect.records import iso_utc
from proxy import params
from proxy.access import Access
from proxy.errors import ApiError
from proxy.rows import csv_between, jsonl_between

DEFAULT_SPAN_S = 24 * HOUR_S


def _chunks(db_path: Path, from_s: int, to_s: int, fmt: str) -> Iterator[bytes]:
    conn = connect(db_path, readonly=True)
    try:
        yield from (jsonl_between if fmt == "jsonl" else csv_between)(conn, from_s, to_s)
    finally:
        conn.close()


class Export:
    def __init__(self, db_path: Path, access: Access):
        self._db_path = db_path
        self._access = access

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
        headers = await self._access.charge(row)
        name = f"nettrace-{iso_utc(from_s)}-{iso_utc(to_s)}.{fmt}".replace(":", "")
        headers["content-disposition"] = f'attachment; filename="{name}"'
        headers["cache-control"] = "private, no-store"
        return StreamingResponse(_chunks(self._db_path, from_s, to_s, fmt),
                                 media_type=EXPORT_FORMATS[fmt], headers=headers)

"""GET /api/v1/export: results streamed from SQLite as CSV or JSON lines, never held whole."""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from collect.db import connect
from collect.records import iso_utc
from proxy import params
from proxy.access import Access
from proxy.errors import ApiError
from proxy.rows import csv_between, jsonl_between
from proxy.tiers import EXPORT, HOUR_S, TIERS

FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
DEFAULT_SPAN_S = 24 * HOUR_S
_UNIX = re.compile(r"[0-9]{1,11}")


def parse_time(value: str, name: str) -> int:
    """Unix seconds or ISO 8601 (a date, or a time with Z or an offset) as unix seconds."""
    if _UNIX.fullmatch(value):
        return int(value)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name} must be unix seconds or ISO 8601 UTC, "
                       "e.g. 2026-11-25T00:00:00Z") from None
    return int((dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp())


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
        """?from=&to= (default: the last 24 h) within the tier's history, ?format=csv|jsonl."""
        row = self._access.authenticate(request, EXPORT)
        fmt = params.text(request, "format", "csv")
        if fmt not in FORMATS:
            raise ApiError(400, "bad_parameter", "format must be csv or jsonl")
        now_s = int(self._access.now_s())
        to_s = parse_time(params.text(request, "to") or str(now_s), "to")
        from_s = parse_time(params.text(request, "from") or str(to_s - DEFAULT_SPAN_S), "from")
        oldest_s = now_s - TIERS[row.tier].history_hours * HOUR_S
        if not oldest_s <= from_s < to_s:
            raise ApiError(400, "bad_parameter", f"need {iso_utc(oldest_s)} <= from < to "
                           f"({TIERS[row.tier].history_hours} h of history)")
        headers = await self._access.charge(row)
        name = f"nettrace-{iso_utc(from_s)}-{iso_utc(to_s)}.{fmt}".replace(":", "")
        headers["content-disposition"] = f'attachment; filename="{name}"'
        headers["cache-control"] = "private, no-store"
        return StreamingResponse(_chunks(self._db_path, from_s, to_s, fmt),
                                 media_type=FORMATS[fmt], headers=headers)

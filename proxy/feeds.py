"""GET /api/v1/feeds/signals.atom (Pro and above): the Atom feed of signal events in real time,
every scope, straight from the signals table (the free one is the build's, an hour late)."""
from __future__ import annotations

import json
import sqlite3

from starlette.requests import Request
from starlette.responses import Response

from api.contract import SIGNALS
from build.render.atom import MAX_ENTRIES, FeedOptions, render_signals_atom
from proxy import params
from proxy.access import Access
from proxy.files import Blob, blob_response

ATOM_TYPE = "application/atom+xml"
_COLUMNS = ("id", "type", "target", "region", "probe", "scope", "regions", "started_at",
            "ended_at", "status", "before_ms", "during_ms", "peak_z", "severity", "in_session",
            "description", "updated_at")


def recent_events(conn: sqlite3.Connection, in_session: bool | None, limit: int) -> list[dict]:
    """The limit most recently changed events (as render_signals_atom takes them)."""
    where = "" if in_session is None else f"WHERE in_session = {int(in_session)}"
    rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM signals {where} "
                        "ORDER BY updated_at DESC, id LIMIT ?", (limit,)).fetchall()
    events = []
    for row in rows:
        e = dict(zip(_COLUMNS, row))
        try:
            e["regions"] = json.loads(e["regions"])
        except ValueError:
            e["regions"] = [e["region"]]  # a bad row still shows, with what it has
        e["in_session"] = bool(e["in_session"])
        events.append(e)
    return events


class Feeds:
    def __init__(self, reader: sqlite3.Connection, access: Access):
        self._reader = reader
        self._access = access

    async def signals(self, request: Request) -> Response:
        row = self._access.authenticate(request, SIGNALS)
        in_session = params.flag(request, "in_session")
        headers = await self._access.charge(row)
        events = recent_events(self._reader, in_session, MAX_ENTRIES)
        options = FeedOptions(delay_s=0, global_only=False, in_session=in_session,
                              self_href="signals.atom", site_href="../../../",
                              title="NetTrace signal events (real time)")
        body = render_signals_atom(events, int(self._access.now_s()), options)
        return blob_response(request, Blob.of(body, ATOM_TYPE), "private, no-cache", headers)

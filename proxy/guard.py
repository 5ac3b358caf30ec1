"""Refuse oversized requests before routing: a long URL is a 414, big headers a 431."""
from __future__ import annotations

import json

# Far above what any valid request needs (handlers check each parameter), so only abuse meets them.
MAX_PATH_BYTES = 8192
MAX_QUERY_BYTES = 8192
MAX_HEADER_BYTES = 8192  # one header line
MAX_HEADERS_BYTES = 16384  # all of them
MAX_HEADER_COUNT = 100


def _refusal(scope) -> tuple[int, str, str] | None:
    if len(scope.get("raw_path") or scope["path"].encode()) > MAX_PATH_BYTES:
        return 414, "uri_too_long", f"the path is over {MAX_PATH_BYTES} bytes"
    if len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
        return 414, "uri_too_long", f"the query is over {MAX_QUERY_BYTES} bytes"
    headers = scope["headers"]
    sizes = [len(k) + len(v) for k, v in headers]
    if len(headers) > MAX_HEADER_COUNT or sum(sizes) > MAX_HEADERS_BYTES or max(sizes, default=0) > MAX_HEADER_BYTES:
        return 431, "headers_too_large", (f"at most {MAX_HEADER_COUNT} headers, {MAX_HEADER_BYTES} "
                                          f"bytes each and {MAX_HEADERS_BYTES} in all")
    if "\x00" in scope["path"]:
        return 400, "bad_path", "the path holds a NUL"
    return None


class HeaderGuard:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        refusal = _refusal(scope) if scope["type"] in ("http", "websocket") else None
        if refusal is None:
            return await self.app(scope, receive, send)
        status, code, detail = refusal
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1009, "reason": code})
        body = json.dumps({"error": code, "detail": detail}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

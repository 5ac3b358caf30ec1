"""The edge in front of routing: oversized requests refused (a long URL is a 414, big headers a
431), CORS for browser clients (the playground), in one pass over the headers, and security
headers on every answer."""
from __future__ import annotations

import json

# Far above what any valid request needs (handlers check each parameter), so only abuse meets them.
MAX_PATH_BYTES = 8192
MAX_QUERY_BYTES = 8192
MAX_HEADER_BYTES = 8192  # one header line
MAX_HEADERS_BYTES = 16384  # all of them
MAX_HEADER_COUNT = 100
EXPOSED_HEADERS = ("ETag, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, "
                   "X-RateLimit-Used, RateLimit-Policy, RateLimit, X-NetTrace-Window-Hours")
# The site's own pages pass it: scripts, styles, images and fetches (and the stream) from this
# origin only; style attributes allowed, since the dashboard sets a CSS variable per table.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
       "img-src 'self'; font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
_SECURITY = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
             (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
_CORS = [(b"access-control-allow-origin", b"*"),
         (b"access-control-expose-headers", EXPOSED_HEADERS.encode())]
_PREFLIGHT = [(b"access-control-allow-origin", b"*"),
              (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
              (b"access-control-allow-headers", b"Authorization, If-None-Match"),
              (b"access-control-max-age", b"600"), (b"content-length", b"0")]


def _refusal(scope, total: int, largest: int) -> tuple[int, str, str] | None:
    if len(scope.get("raw_path") or scope["path"].encode()) > MAX_PATH_BYTES:
        return 414, "uri_too_long", f"the path is over {MAX_PATH_BYTES} bytes"
    if len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
        return 414, "uri_too_long", f"the query is over {MAX_QUERY_BYTES} bytes"
    if len(scope["headers"]) > MAX_HEADER_COUNT or total > MAX_HEADERS_BYTES or largest > MAX_HEADER_BYTES:
        return 431, "headers_too_large", (f"at most {MAX_HEADER_COUNT} headers, {MAX_HEADER_BYTES} "
                                          f"bytes each and {MAX_HEADERS_BYTES} in all")
    if "\x00" in scope["path"]:
        return 400, "bad_path", "the path holds a NUL"
    return None


class Edge:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        total = largest = 0
        origin = preflight = False
        for name, value in scope["headers"]:
            size = len(name) + len(value)
            total += size
            largest = max(largest, size)
            origin = origin or name == b"origin"
            preflight = preflight or name == b"access-control-request-method"
        refusal = _refusal(scope, total, largest)
        if refusal is not None:
            return await _refuse(scope, send, *refusal)
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        if origin and preflight and scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": _PREFLIGHT + _SECURITY})
            return await send({"type": "http.response.body", "body": b""})
        added = _SECURITY + _CORS if origin else _SECURITY

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)
        await self.app(scope, receive, send_with_headers)


async def _refuse(scope, send, status: int, code: str, detail: str) -> None:
    if scope["type"] == "websocket":
        return await send({"type": "websocket.close", "code": 1009, "reason": code})
    body = json.dumps({"error": code, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"), (b"connection", b"close"), *_SECURITY]})
    await send({"type": "http.response.body", "body": body})

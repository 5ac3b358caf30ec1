"""Query and path parameters, validated before any call is charged: absurd values are a 400."""
from __future__ import annotations

import re

from starlette.requests import HTTPConnection

from proxy.errors import ApiError

_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63}){0,10}")
MAX_PARAM_CHARS = 200
MAX_COMPARE = 10


def host(value: str) -> str:
    """A host name as the catalog writes it (DNS labels), or ApiError 404 unknown_target."""
    if len(value) > 253 or not _HOST.fullmatch(value):
        raise ApiError(404, "unknown_target", "no such target (not a host name)")
    return value.lower()


def text(conn: HTTPConnection, name: str, default: str | None = None) -> str | None:
    value = conn.query_params.get(name)
    if value is None:
        return default
    if len(value) > MAX_PARAM_CHARS or "\x00" in value:
        raise ApiError(400, "bad_parameter", f"{name} is too long or holds a NUL")
    return value


def integer(conn: HTTPConnection, name: str, default: int, low: int, high: int) -> int:
    raw = text(conn, name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not low <= int(raw) <= high:
        raise ApiError(400, "bad_parameter", f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def host_list(conn: HTTPConnection, name: str) -> tuple[str, ...]:
    """2 to MAX_COMPARE distinct host names, comma-separated."""
    raw = text(conn, name)
    if raw is None:
        raise ApiError(400, "bad_parameter", f"{name} is required, e.g. {name}=a.com,b.com")
    items = tuple(dict.fromkeys(h.strip().lower() for h in raw.split(",") if h.strip()))
    if not 2 <= len(items) <= MAX_COMPARE:
        raise ApiError(400, "bad_parameter", f"{name} needs 2 to {MAX_COMPARE} distinct hosts")
    return tuple(host(h) for h in items)

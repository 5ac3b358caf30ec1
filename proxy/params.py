"""Query and path parameters, validated before any call is charged: absurd values are a 400."""
from __future__ import annotations

import calendar
import re
from datetime import datetime

from starlette.requests import HTTPConnection

from api.contract import DAY_S, HOUR_S, MAX_COMPARE, MAX_HOST_CHARS, MAX_PARAM_CHARS, UNIX_PATTERN
from proxy.errors import ApiError

_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63}){0,10}")
MINUTE_S = 60


def host(value: str) -> str:
    """A host name as the catalog writes it (DNS labels), or ApiError 404 unknown_target."""
    if len(value) > MAX_HOST_CHARS or not _HOST.fullmatch(value):
        raise ApiError(404, "unknown_target", "no such target (not a host name)")
    return value.lower()


def text(conn: HTTPConnection, name: str, default: str | None = None) -> str | None:
    value = conn.query_params.get(name)
    if value is None:
        return default
    if len(value) > MAX_PARAM_CHARS:
        raise ApiError(400, "bad_parameter", f"{name} is longer than {MAX_PARAM_CHARS} characters")
    return value


def flag(conn: HTTPConnection, name: str) -> bool | None:
    """true or false; None when absent."""
    raw = text(conn, name)
    if raw not in (None, "true", "false"):
        raise ApiError(400, "bad_parameter", f"{name} must be true or false")
    return None if raw is None else raw == "true"


def integer(conn: HTTPConnection, name: str, default: int, low: int, high: int) -> int:
    raw = text(conn, name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not low <= int(raw) <= high:
        raise ApiError(400, "bad_parameter", f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def host_list(conn: HTTPConnection, name: str) -> tuple[str, ...]:
    """1 to MAX_COMPARE distinct host names, comma-separated (repeats count once)."""
    raw = text(conn, name)
    if raw is None:
        raise ApiError(400, "bad_parameter", f"{name} is required, e.g. {name}=a.com,b.com")
    items = tuple(dict.fromkeys(h.strip().lower() for h in raw.split(",") if h.strip()))
    if not 1 <= len(items) <= MAX_COMPARE:
        raise ApiError(400, "bad_parameter", f"{name} takes 1 to {MAX_COMPARE} distinct hosts")
    return tuple(host(h) for h in items)


_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[Tt](\d\d):(\d\d):(\d\d)(?:\.\d+)?"
                      r"([Zz]|[+-](\d\d):(\d\d)))?")


def instant(conn: HTTPConnection, name: str, default: int, end_of_day: bool = False) -> int:
    """Unix seconds from unix seconds, an RFC 3339 date-time (with Z or an offset) or a date
    (its midnight UTC, or the next midnight when end_of_day: `to=` a date includes that day);
    ApiError 400 for anything else."""
    raw = text(conn, name)
    if raw is None:
        return default
    if re.fullmatch(UNIX_PATTERN, raw):
        return int(raw)
    m = _RFC3339.fullmatch(raw)
    try:
        if m is None:
            raise ValueError(raw)
        y, mo, d, h, mi, sec = (int(g or 0) for g in m.groups()[:6])
        datetime(y, mo, d, h, mi, min(sec, 59))  # validates the calendar; 60 is a leap second
        off_h, off_m = int(m.group(8) or 0), int(m.group(9) or 0)
        if off_h > 23 or off_m > 59:
            raise ValueError(raw)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name} must be unix seconds, an RFC 3339 date-time "
                       "or a date, e.g. 2026-11-25T00:00:00Z") from None
    sign = -1 if (m.group(7) or "Z")[0] == "-" else 1
    whole_day_s = DAY_S if end_of_day and m.group(4) is None else 0
    return (calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0)) + whole_day_s
            - sign * (off_h * HOUR_S + off_m * MINUTE_S))

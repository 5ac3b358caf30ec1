"""Who may call what: the offered key, its tier and its daily quota, and the headers that say so."""
from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timezone

from starlette.requests import HTTPConnection

from api.contract import DAY_S, TIERS, tier_for_feature
from proxy.errors import ApiError
from proxy.keys import KEY_PREFIX, KeyRow, digest, lookup_key, well_formed
from proxy.limits import FailureLimiter
from proxy.quota import QuotaBook, Verdict

_CHALLENGE = {"www-authenticate": 'Bearer realm="nettrace"'}
POLICY_NAME = '"daily"'
KEY_RECHECK_S = 1.0  # how long a checked key is trusted before its row is read again
MAX_LIVE_KEYS = 10_000
# A browser cannot set Authorization on a WebSocket: it offers the subprotocols
# ["nettrace", "nt_..."] instead, and the server selects "nettrace".
SUBPROTOCOL = "nettrace"
log = logging.getLogger("nettrace.proxy")


def quota_headers(v: Verdict, now_s: float) -> dict[str, str]:
    """GitHub-style X-RateLimit-* and the IETF draft's RateLimit-Policy / RateLimit.
    An unlimited key has no limit to state: it gets the reset time and its calls so far."""
    out = {"x-ratelimit-reset": str(v.reset_ts), "x-ratelimit-used": str(v.used)}
    if v.limit is not None:
        out |= {
            "x-ratelimit-limit": str(v.limit),
            "x-ratelimit-remaining": str(v.remaining),
            "ratelimit-policy": f"{POLICY_NAME};q={v.limit};w={DAY_S}",
            "ratelimit": f"{POLICY_NAME};r={v.remaining};t={max(v.reset_ts - int(now_s), 0)}",
        }
    return out


def offered_key(conn: HTTPConnection) -> str:
    """The key a request offers: `Authorization: Bearer nt_...`, or on a WebSocket the
    subprotocol beside `nettrace`. Never the URL, which logs and histories keep.
    ApiError 401 when no usable key is offered; costs no lookup."""
    scheme, _, key = conn.headers.get("authorization", "").strip().partition(" ")
    if scheme:
        if scheme.lower() != "bearer":
            raise ApiError(401, "malformed_key", "use the Bearer scheme", _CHALLENGE)
        return key.strip()
    offered = conn.scope.get("subprotocols") or []
    keys = [p for p in offered if p.startswith(KEY_PREFIX)]
    if keys:
        if SUBPROTOCOL not in offered:
            raise ApiError(401, "malformed_key", f"offer the subprotocols {SUBPROTOCOL!r} and "
                           "the key, e.g. new WebSocket(url, ['nettrace', key])", _CHALLENGE)
        return keys[0]
    raise ApiError(401, "missing_key", "send the header Authorization: Bearer nt_... (a browser "
                   "WebSocket: the subprotocols 'nettrace' and the key)", _CHALLENGE)


class KeyBook:
    """Stored key rows by digest, each trusted for KEY_RECHECK_S after it was read, so a busy
    key costs one HMAC, not a query; a revocation therefore takes effect within that time."""

    def __init__(self, reader: sqlite3.Connection, pepper: bytes):
        self._reader = reader
        self._pepper = pepper
        self._live: dict[bytes, tuple[float, KeyRow]] = {}  # digest -> (monotonic s when read, row)

    def recent(self, key: str, now_s: float) -> KeyRow | None:
        """The row of key if it was found live within KEY_RECHECK_S (now_s: monotonic s)."""
        hit = self._live.get(digest(key, self._pepper))
        return hit[1] if hit is not None and now_s - hit[0] < KEY_RECHECK_S else None

    def lookup(self, key: str, now_s: float) -> KeyRow:
        """The stored row of a live key; ApiError 401 naming why the key is refused."""
        if not well_formed(key):
            raise ApiError(401, "malformed_key", "not a NetTrace key (bad format or checksum; "
                           "check for a typo)", _CHALLENGE)
        wanted = digest(key, self._pepper)
        row = lookup_key(self._reader, key, self._pepper)
        if row is None:
            raise ApiError(401, "unknown_key", "this key was never issued", _CHALLENGE)
        if row.revoked_at is not None:
            self._live.pop(wanted, None)
            hint = " (it was rotated: use its replacement)" if row.replaced_by else ""
            raise ApiError(401, "revoked_key", f"key {row.prefix} is revoked{hint}", _CHALLENGE)
        if len(self._live) >= MAX_LIVE_KEYS:
            self._live.clear()
        self._live[wanted] = (now_s, row)
        return row


class Access:
    """Authenticates offered keys and charges their calls."""

    def __init__(self, keys: KeyBook, quota: QuotaBook, clock: Callable[[], float],
                 failures: FailureLimiter):
        self._keys = keys
        self._quota = quota
        self._clock = clock
        self._failures = failures

    def authenticate(self, conn: HTTPConnection, feature: str) -> KeyRow:
        """The live key of the request if its tier grants feature; ApiError 401/403 otherwise,
        or 429 too_many_failures when this client has failed too often to be looked at."""
        now = time.monotonic()
        try:
            key, refusal = offered_key(conn), None
        except ApiError as exc:
            key, refusal = "", exc
        row = self._keys.recent(key, now) if key else None
        if row is None:
            client = self._failures.client(conn)
            self._failures.check(client, now)
            try:
                if refusal is not None:
                    raise refusal
                row = self._keys.lookup(key, now)
            except ApiError:
                self._failures.record(client, now)
                raise
        tier = TIERS[row.tier]
        if feature not in tier.features:
            needed = tier_for_feature(feature)
            raise ApiError(403, "tier_required", f"{feature} needs the {needed.name} tier; "
                           f"this key is {tier.name}", required_tier=needed.name)
        return row

    async def charge(self, row: KeyRow) -> dict[str, str]:
        """Count one call of row today; its quota headers, or ApiError 429 when spent (503 when
        the count cannot be stored: the cause goes to the log, not to the caller)."""
        now_s = self._clock()
        try:
            verdict = await self._quota.charge(row.id, TIERS[row.tier].calls_per_day, now_s)
        except sqlite3.Error as exc:
            log.error("could not record a call of key %s: %s", row.id, exc)
            raise ApiError(503, "quota_unavailable", "could not record the call; retry in a second",
                           {"retry-after": "1"}) from exc
        headers = quota_headers(verdict, now_s)
        if not verdict.admitted:
            reset = datetime.fromtimestamp(verdict.reset_ts, timezone.utc).strftime("%H:%M UTC")
            headers["retry-after"] = str(max(verdict.reset_ts - int(now_s), 1))
            raise ApiError(429, "quota_exceeded", f"{verdict.limit} calls per UTC day used; the "
                           f"{row.tier} quota resets at {reset}", headers)
        return headers

    def now_s(self) -> float:
        return self._clock()

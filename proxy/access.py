"""Who may call what: the bearer key, its tier and its daily quota, and the headers that say so."""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timezone

from starlette.requests import HTTPConnection

from api.contract import DAY_S, TIERS, tier_for_feature
from proxy.errors import ApiError
from proxy.keys import KeyRow, digest, lookup_key, well_formed
from proxy.quota import QuotaBook, Verdict

_CHALLENGE = {"www-authenticate": 'Bearer realm="nettrace"'}
POLICY_NAME = '"daily"'
KEY_RECHECK_S = 1.0  # how long a checked key is trusted before its row is read again
MAX_LIVE_KEYS = 10_000


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


class Access:
    """Authenticates bearer keys and charges their calls."""

    def __init__(self, reader: sqlite3.Connection, quota: QuotaBook, pepper: bytes,
                 clock: Callable[[], float]):
        self._reader = reader
        self._quota = quota
        self._pepper = pepper
        self._clock = clock
        self._live: dict[bytes, tuple[float, KeyRow]] = {}  # digest -> (monotonic s when checked, row)

    def authenticate(self, conn: HTTPConnection, feature: str) -> KeyRow:
        """The live key of the request if its tier grants feature; ApiError 401/403 otherwise."""
        scheme, _, key = conn.headers.get("authorization", "").strip().partition(" ")
        if not scheme:
            raise ApiError(401, "missing_key", "send the header Authorization: Bearer nt_...",
                           _CHALLENGE)
        if scheme.lower() != "bearer":
            raise ApiError(401, "malformed_key", "use the Bearer scheme", _CHALLENGE)
        row = self._live_key(key.strip())
        tier = TIERS[row.tier]
        if feature not in tier.features:
            needed = tier_for_feature(feature)
            raise ApiError(403, "tier_required", f"{feature} needs the {needed.name} tier; "
                           f"this key is {tier.name}", required_tier=needed.name)
        return row

    def _live_key(self, key: str) -> KeyRow:
        """The stored row of a live key, remembered for KEY_RECHECK_S so a busy key costs one
        HMAC, not a query; a revocation therefore takes effect within that time."""
        wanted = digest(key, self._pepper)
        now = time.monotonic()
        hit = self._live.get(wanted)
        if hit is not None and now - hit[0] < KEY_RECHECK_S:
            return hit[1]
        if not well_formed(key):
            raise ApiError(401, "malformed_key", "not a NetTrace key (bad format or checksum; "
                           "check for a typo)", _CHALLENGE)
        row = lookup_key(self._reader, key, self._pepper)
        if row is None:
            raise ApiError(401, "unknown_key", "this key was never issued", _CHALLENGE)
        if row.revoked_at is not None:
            self._live.pop(wanted, None)
            hint = " (it was rotated: use its replacement)" if row.replaced_by else ""
            raise ApiError(401, "revoked_key", f"key {row.prefix} is revoked{hint}", _CHALLENGE)
        if len(self._live) >= MAX_LIVE_KEYS:
            self._live.clear()
        self._live[wanted] = (now, row)
        return row

    async def charge(self, row: KeyRow) -> dict[str, str]:
        """Count one call of row today; its quota headers, or ApiError 429 when spent."""
        now_s = self._clock()
        try:
            verdict = await self._quota.charge(row.id, TIERS[row.tier].calls_per_day, now_s)
        except sqlite3.Error as exc:
            raise ApiError(503, "quota_unavailable", f"could not record the call: {exc}",
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

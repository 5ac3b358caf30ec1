"""What one key or one client may hold or try at once: concurrent streams and exports per key,
and calls without a valid key per client address, so a flood of forged keys costs a dict lookup
each instead of an HMAC and a query."""
from __future__ import annotations

import ipaddress
import math

from starlette.requests import HTTPConnection

from proxy.errors import ApiError

MAX_STREAMS_PER_KEY = 4
MAX_EXPORTS_PER_KEY = 2
# A client may fail authentication FAILURE_BURST times at once (a test suite's worth), then
# FAILURE_REFILL_PER_S times a second.
FAILURE_BURST = 60
FAILURE_REFILL_PER_S = 1.0
MAX_TRACKED_CLIENTS = 65_536
FLY_CLIENT_IP = "fly-client-ip"  # set by Fly's edge proxy; anyone else can forge it


class Slots:
    """At most cap concurrent calls of one kind (streams, exports) per key."""

    def __init__(self, kind: str, cap: int):
        self._kind = kind
        self._cap = cap
        self._held: dict[int, int] = {}

    def take(self, key_id: int) -> None:
        """Hold one slot of key_id; ApiError 429 when all cap are held."""
        held = self._held.get(key_id, 0)
        if held >= self._cap:
            raise ApiError(429, f"too_many_{self._kind}", f"this key already has {held} open "
                           f"{self._kind} (at most {self._cap}); close one first")
        self._held[key_id] = held + 1

    def give_back(self, key_id: int) -> None:
        held = self._held.get(key_id, 0) - 1
        if held > 0:
            self._held[key_id] = held
        else:
            self._held.pop(key_id, None)


class FailureLimiter:
    """Calls without a valid key per client address, as a token bucket: FAILURE_BURST tokens,
    refilled at FAILURE_REFILL_PER_S; an empty bucket is refused before any key lookup."""

    def __init__(self, trust_fly_client_ip: bool):
        self._trust_fly = trust_fly_client_ip
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, monotonic s)

    def client(self, conn: HTTPConnection) -> str:
        """The caller's address: Fly-Client-IP when configured to trust it (Fly's edge sets it),
        else the peer of the TCP connection."""
        if self._trust_fly:
            value = conn.headers.get(FLY_CLIENT_IP, "").strip()
            try:
                return str(ipaddress.ip_address(value))
            except ValueError:
                pass  # not behind Fly's edge after all: the peer is the client
        return conn.client.host if conn.client else "-"

    def _tokens(self, client: str, now_s: float) -> float:
        hit = self._buckets.get(client)
        if hit is None:
            return FAILURE_BURST
        tokens, then_s = hit
        return min(FAILURE_BURST, tokens + (now_s - then_s) * FAILURE_REFILL_PER_S)

    def check(self, client: str, now_s: float) -> None:
        """ApiError 429 with Retry-After when client has no failure left to spend."""
        tokens = self._tokens(client, now_s)
        if tokens < 1:
            wait_s = math.ceil((1 - tokens) / FAILURE_REFILL_PER_S)
            raise ApiError(429, "too_many_failures", "too many calls without a valid key from this "
                           f"address; retry in {wait_s} s", {"retry-after": str(wait_s)})

    def record(self, client: str, now_s: float) -> None:
        """Spend one token of client (now_s: monotonic seconds)."""
        tokens = self._tokens(client, now_s) - 1
        self._buckets.pop(client, None)  # re-inserted last: the first entry is the stalest
        if len(self._buckets) >= MAX_TRACKED_CLIENTS:
            del self._buckets[next(iter(self._buckets))]
        self._buckets[client] = (tokens, now_s)

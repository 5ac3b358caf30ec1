"""Typed records passed between the collector's stages, and the versioned result JSON.

A probe returns a Measurement (raw samples and probe-specific fields); the runner stamps it
with target, region, round and time into a ProbeResult. Statistics are derived from the raw
samples, never stored twice in the record.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

SCHEMA = 1
PROBES = ("icmp", "tcp", "tls", "http", "dns", "trace")
ROUND_S = 15 * 60  # collectors measure on the :00/:15/:30/:45 UTC grid
# The wire form's fields (ProbeResult.to_json()); ingest/validate.py checks them.
STAT_KEYS = ("rtt_ms", "min_ms", "p95_ms", "max_ms", "mean_ms", "jitter_ms")
DETAIL_KEYS = ("hops", "path", "fingerprint", "status", "cert_expires", "cert_issuer", "addresses",
               "connect_ms")
# Free text a probe copies from the world (OS errors, certificates): its length limit.
FREE_TEXT = {"error": 500, "cert_issuer": 512, "cert_expires": 64, "fingerprint": 128}
# A stored result's columns, in the order ingest's rows carry them (store appends received_at);
# sent and fingerprint repeat samples_ms' length and detail's fingerprint for quick reading.
COLUMNS = ("target", "region", "probe", "round_ts", "ts", "ok", *STAT_KEYS, "loss", "samples_ms",
           "detail", "error", "sent", "fingerprint")


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    city: str
    note: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    name: str
    category: str
    port: int = 443
    health_url: str | None = None
    probes: tuple[str, ...] = PROBES
    calendar: str | None = None  # exchange_calendars code (e.g. "XNYS"); None: open 24/7


@dataclass(frozen=True, slots=True)
class Hop:
    ttl: int
    address: str | None  # None is a silent hop, shown as '*'
    rtt_ms: float | None

    def to_json(self) -> dict:
        return {"ttl": self.ttl, "address": self.address or "*", "rtt_ms": _round(self.rtt_ms)}


@dataclass(frozen=True, slots=True)
class Measurement:
    """What one probe measured. samples_ms holds None for each lost sample."""

    samples_ms: tuple[float | None, ...]
    error: str | None = None
    hops: tuple[Hop, ...] | None = None  # trace
    fingerprint: str | None = None  # trace: hash of the responding hops' addresses
    status: int | None = None  # http
    cert_expires: str | None = None  # tls, ISO 8601 UTC
    cert_issuer: str | None = None  # tls
    addresses: tuple[str, ...] | None = None  # dns
    # tcp, tls, http: per sample, the full connect time of a handshake that needed a
    # retransmission (its sample is lost); None elsewhere, and the whole field None when no
    # handshake was resent
    connect_ms: tuple[float | None, ...] | None = None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    target: str
    region: str
    probe: str
    round_ts: int  # unix seconds of the round's grid slot
    ts: float  # unix seconds when the probe started
    measurement: Measurement = field(repr=False)

    @property
    def round_id(self) -> str:
        return iso_utc(self.round_ts)

    @property
    def id(self) -> str:
        """Stable identity: a result pushed twice is stored once."""
        return f"{self.region}/{self.round_id}/{self.target}/{self.probe}"

    @property
    def received(self) -> list[float]:
        return [s for s in self.measurement.samples_ms if s is not None]

    @property
    def ok(self) -> bool:
        return self.measurement.error is None and bool(self.received)

    @property
    def loss(self) -> float:
        n = len(self.measurement.samples_ms)
        return 1.0 if n == 0 else 1.0 - len(self.received) / n

    def to_json(self) -> dict:
        m = self.measurement
        out = {
            "schema": SCHEMA,
            "id": self.id,
            "target": self.target,
            "region": self.region,
            "probe": self.probe,
            "ts": iso_utc(self.ts),
            "round_id": self.round_id,
            "ok": self.ok,
            **{k: _round(v) for k, v in sample_stats(self.received).items()},
            "loss": round(self.loss, 4),
            "samples_ms": [_round(s) for s in m.samples_ms],
            "error": m.error,
        }
        if m.hops is not None:
            out["hops"] = [h.to_json() for h in m.hops]
            out["path"] = [h.address for h in m.hops if h.address]
            out["fingerprint"] = m.fingerprint
        if m.status is not None:
            out["status"] = m.status
        if m.cert_expires is not None or m.cert_issuer is not None:
            out["cert_expires"] = m.cert_expires
            out["cert_issuer"] = m.cert_issuer
        if m.addresses is not None:
            out["addresses"] = list(m.addresses)
        if m.connect_ms is not None:
            out["connect_ms"] = [_round(v) for v in m.connect_ms]
        return out


def sample_stats(received: list[float]) -> dict[str, float | None]:
    """rtt_ms (median), min, p95, max, mean and jitter (mean |difference| of consecutive
    received samples) in ms; all None when nothing came back."""
    if not received:
        return dict.fromkeys(STAT_KEYS)
    s = sorted(received)
    diffs = [abs(b - a) for a, b in zip(received, received[1:])]
    return {
        "rtt_ms": _quantile(s, 0.5),
        "min_ms": s[0],
        "p95_ms": _quantile(s, 0.95),
        "max_ms": s[-1],
        "mean_ms": sum(s) / len(s),
        "jitter_ms": sum(diffs) / len(diffs) if diffs else 0.0,
    }


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def iso_utc(unix_s: float) -> str:
    """ISO 8601 UTC with a Z; milliseconds only when the time has them."""
    dt = datetime.fromtimestamp(unix_s, tz=timezone.utc)
    if unix_s == int(unix_s):
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def round_slot(unix_s: float) -> int:
    """The start of the 15-minute grid slot that holds unix_s."""
    return int(unix_s // ROUND_S * ROUND_S)


def wire_safe(record: dict) -> dict:
    """record with its free text made printable (U+FFFD) and cut to length, so central never
    refuses a result for what a remote server or the OS wrote into it. Collectors spool this."""
    out = dict(record)
    for key, limit in FREE_TEXT.items():
        value = out.get(key)
        if isinstance(value, str) and not (0 < len(value) <= limit and value.isprintable()):
            out[key] = "".join(c if c.isprintable() else "\ufffd" for c in value)[:limit] or "\ufffd"
    return out

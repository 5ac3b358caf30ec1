"""Per-region HMAC signing of pushed batches, in the shape of well-known webhook schemes.

A push carries four headers:
    X-NetTrace-Region:         ewr
    X-NetTrace-Timestamp:      1795644000     (unix seconds when the push was signed)
    X-NetTrace-Head-Signature: v1=<hex HMAC-SHA256(secret, "head.{timestamp}.{region}")>
    X-NetTrace-Signature:      v1=<hex HMAC-SHA256(secret, "{timestamp}.{region}." + body)>
Central (ingest/signature.py) accepts a timestamp within MAX_SKEW_S of its clock; a replay
inside that window is stored once (duplicates), because result ids are stable. The head
signature lets central authenticate a push before it reads a byte of the body ("head." keeps
its input apart from every body signature's, which starts with a digit).

Secrets come from the environment only: the collector reads NETTRACE_PUSH_SECRET; central
reads NETTRACE_SECRET_<REGION> (e.g. NETTRACE_SECRET_EWR) for each region it accepts.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from collect.errors import CollectError

VERSION = "v1"
MAX_SKEW_S = 300
MIN_SECRET_CHARS = 16
REGION_HEADER = "X-NetTrace-Region"
TIMESTAMP_HEADER = "X-NetTrace-Timestamp"
SIGNATURE_HEADER = "X-NetTrace-Signature"
HEAD_SIGNATURE_HEADER = "X-NetTrace-Head-Signature"
PUSH_SECRET_VAR = "NETTRACE_PUSH_SECRET"


def region_secret_var(region: str) -> str:
    return f"NETTRACE_SECRET_{region.upper()}"


def read_secret(environ: Mapping[str, str], name: str, error: type[Exception]) -> bytes:
    value = environ.get(name)
    if not value:
        raise error(f"environment variable {name} is not set (a push secret has no default)")
    if len(value) < MIN_SECRET_CHARS:
        raise error(f"environment variable {name} is shorter than {MIN_SECRET_CHARS} characters")
    return value.encode()


def push_secret(environ: Mapping[str, str]) -> bytes:
    """The collector's own secret; raises CollectError naming the missing variable."""
    return read_secret(environ, PUSH_SECRET_VAR, CollectError)


def signature(secret: bytes, region: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.{region}.".encode() + body, hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def head_signature(secret: bytes, region: str, timestamp: int) -> str:
    mac = hmac.new(secret, f"head.{timestamp}.{region}".encode(), hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def sign(secret: bytes, region: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of a push of body, signed at timestamp (unix s)."""
    return {REGION_HEADER: region, TIMESTAMP_HEADER: str(timestamp),
            HEAD_SIGNATURE_HEADER: head_signature(secret, region, timestamp),
            SIGNATURE_HEADER: signature(secret, region, timestamp, body)}

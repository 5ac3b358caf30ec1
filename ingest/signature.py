"""Central's side of the push signature (collect/signing.py): which regions' secrets it holds,
and the check of a push's region, timestamp and HMAC."""
from __future__ import annotations

import hmac
from collections.abc import Mapping

from collect.signing import (MAX_SKEW_S, REGION_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
                             read_secret, region_secret_var, signature)
from ingest.errors import IngestError


class SignatureError(IngestError):
    """A push whose region, timestamp or signature does not verify (HTTP 401)."""


def central_secrets(environ: Mapping[str, str], regions: list[str]) -> dict[str, bytes]:
    """Each accepted region's secret; raises IngestError naming the first missing variable."""
    return {r: read_secret(environ, region_secret_var(r), IngestError) for r in regions}


def verify(headers: Mapping[str, str], body: bytes, secrets: Mapping[str, bytes],
           now: float) -> str:
    """The verified region of a push; raises SignatureError saying what failed."""
    region = headers.get(REGION_HEADER.lower(), "")
    secret = secrets.get(region)
    if secret is None:
        raise SignatureError("unknown or missing region")
    raw_ts = headers.get(TIMESTAMP_HEADER.lower(), "")
    if not (raw_ts.isascii() and raw_ts.isdigit() and len(raw_ts) <= 12):
        raise SignatureError("missing or malformed timestamp")
    if abs(now - int(raw_ts)) > MAX_SKEW_S:
        raise SignatureError(f"timestamp outside ±{MAX_SKEW_S} s of the server clock")
    given = headers.get(SIGNATURE_HEADER.lower(), "")
    if not hmac.compare_digest(given.encode(), signature(secret, region, int(raw_ts), body).encode()):
        raise SignatureError("signature does not match")
    return region

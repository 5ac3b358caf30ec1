"""Central's side of the push signature (collect/signing.py): which regions' secrets it holds,
and the check of a push in two steps. check_claim authenticates the headers alone (region,
clock, the head signature), so a push nobody with the region's secret signed is refused
before a byte of its body is read; verify_body then checks the HMAC over the body."""
from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from collect.signing import (HEAD_SIGNATURE_HEADER, MAX_SKEW_S, REGION_HEADER, SIGNATURE_HEADER,
                             TIMESTAMP_HEADER, VERSION, head_signature, read_secret,
                             region_secret_var, signature)
from ingest.errors import IngestError

_SIGNATURE_RE = re.compile(rf"{VERSION}=[0-9a-f]{{64}}")


class SignatureError(IngestError):
    """A push whose region, timestamp or signature does not verify (HTTP 401)."""


@dataclass(frozen=True, slots=True)
class Claim:
    """What a push's headers claim, already checked against the secrets and the clock."""
    region: str
    secret: bytes
    ts: int  # unix s when the push was signed
    signature: str


def central_secrets(environ: Mapping[str, str], regions: list[str]) -> dict[str, bytes]:
    """Each accepted region's secret; raises IngestError naming the first missing variable."""
    return {r: read_secret(environ, region_secret_var(r), IngestError) for r in regions}


def check_claim(headers: Mapping[str, str], secrets: Mapping[str, bytes], now: float) -> Claim:
    """The region, timestamp and body signature of a push whose headers verify; raises
    SignatureError saying what failed: an unknown region, a timestamp off by more than
    MAX_SKEW_S, a head signature that does not match, or a malformed body signature."""
    region = headers.get(REGION_HEADER.lower(), "")
    secret = secrets.get(region)
    if secret is None:
        raise SignatureError("unknown or missing region")
    raw_ts = headers.get(TIMESTAMP_HEADER.lower(), "")
    if not (raw_ts.isascii() and raw_ts.isdigit() and len(raw_ts) <= 12):
        raise SignatureError("missing or malformed timestamp")
    if abs(now - int(raw_ts)) > MAX_SKEW_S:
        raise SignatureError(f"timestamp outside ±{MAX_SKEW_S} s of the server clock")
    head = headers.get(HEAD_SIGNATURE_HEADER.lower(), "")
    if not hmac.compare_digest(head.encode(), head_signature(secret, region, int(raw_ts)).encode()):
        raise SignatureError("head signature missing or does not match")
    given = headers.get(SIGNATURE_HEADER.lower(), "")
    if not _SIGNATURE_RE.fullmatch(given):
        raise SignatureError(f"missing or malformed signature (expected {VERSION}=<64 hex digits>)")
    return Claim(region, secret, int(raw_ts), given)


def verify_body(claim: Claim, body: bytes) -> None:
    """Raises SignatureError unless claim's signature is the HMAC of body."""
    expected = signature(claim.secret, claim.region, claim.ts, body)
    if not hmac.compare_digest(claim.signature.encode(), expected.encode()):
        raise SignatureError("signature does not match")

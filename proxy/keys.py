"""API keys: `nt_` + 30 random base62 + a 6-character base62 CRC32 of them (GitHub's format).

Only HMAC-SHA256(pepper, key) is stored, beside a short non-secret prefix used to find the
candidate rows; digests are compared in constant time. SQL for api_keys lives here.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import zlib
from dataclasses import dataclass

from api.contract import TIERS
from db.connection import transaction
from proxy.errors import ProxyError

KEY_PREFIX = "nt_"
RANDOM_CHARS = 30
CHECKSUM_CHARS = 6
KEY_LENGTH = len(KEY_PREFIX) + RANDOM_CHARS + CHECKSUM_CHARS
DISPLAY_CHARS = len(KEY_PREFIX) + 6  # "nt_" + 6 random characters: about 36 of 178 bits
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_SET = frozenset(BASE62)
PEPPER_ENV = "NETTRACE_KEY_PEPPER"
MIN_PEPPER_CHARS = 16


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: int
    prefix: str
    tier: str
    owner: str
    created_at: float  # unix s
    revoked_at: float | None  # unix s
    replaced_by: int | None


def _base62(n: int, width: int) -> str:
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(BASE62[r])
    return "".join(reversed(out)).rjust(width, "0")


def checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode()), CHECKSUM_CHARS)


def generate_key() -> str:
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_CHARS))
    return KEY_PREFIX + random_part + checksum(random_part)


def well_formed(key: str) -> bool:
    """True when key has the format and its checksum matches: a typo fails without a lookup."""
    if len(key) != KEY_LENGTH or not key.startswith(KEY_PREFIX):
        return False
    body = key[len(KEY_PREFIX):]
    if not _BASE62_SET.issuperset(body):
        return False
    return hmac.compare_digest(checksum(body[:RANDOM_CHARS]), body[RANDOM_CHARS:])


def digest(key: str, pepper: bytes) -> bytes:
    return hmac.new(pepper, key.encode(), hashlib.sha256).digest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_CHARS]


def check_pepper(value: str | None) -> bytes:
    """The pepper as bytes; ProxyError naming the variable when it is missing or short."""
    if not value:
        raise ProxyError(f"{PEPPER_ENV} is not set (the API key pepper has no default)")
    if len(value) < MIN_PEPPER_CHARS:
        raise ProxyError(f"{PEPPER_ENV} is shorter than {MIN_PEPPER_CHARS} characters")
    return value.encode()


def create_key(conn: sqlite3.Connection, tier: str, owner: str, pepper: bytes,
               now_s: float) -> str:
    """Store a new key's digest and return the key: the only time it is ever visible."""
    key, _ = _insert_key(conn, tier, owner, pepper, now_s)
    return key


def _insert_key(conn, tier, owner, pepper, now_s) -> tuple[str, int]:
    if tier not in TIERS:
        raise ProxyError(f"unknown tier {tier!r} (choose from {', '.join(TIERS)})")
    if not owner.strip():
        raise ProxyError("owner must not be empty")
    key = generate_key()
    cur = conn.execute(
        "INSERT INTO api_keys (prefix, digest, tier, owner, created_at) VALUES (?, ?, ?, ?, ?)",
        (display_prefix(key), digest(key, pepper), tier, owner, now_s))
    return key, cur.lastrowid


_COLUMNS = "id, prefix, tier, owner, created_at, revoked_at, replaced_by"


def list_keys(conn: sqlite3.Connection) -> list[KeyRow]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY id").fetchall()
    return [KeyRow(*r) for r in rows]


def find_key(conn: sqlite3.Connection, ref: str) -> KeyRow:
    """The key named by its id or display prefix; ProxyError if none or several match."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE CAST(id AS TEXT) = ? OR prefix = ?",
                        (ref, ref)).fetchall()
    if len(rows) != 1:
        raise ProxyError(f"{'no' if not rows else 'more than one'} key matches {ref!r}")
    return KeyRow(*rows[0])


def rows_by_id(conn: sqlite3.Connection, ids: list[int]) -> dict[int, KeyRow]:
    """The stored rows of the keys ids (absent ids are left out)."""
    marks = ",".join("?" * len(ids))
    rows = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id IN ({marks})", ids).fetchall()
    return {r[0]: KeyRow(*r) for r in rows}


def revoke_key(conn: sqlite3.Connection, ref: str, now_s: float) -> KeyRow:
    row = find_key(conn, ref)
    if row.revoked_at is not None:
        raise ProxyError(f"key {row.prefix} (id {row.id}) is already revoked")
    conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (now_s, row.id))
    return find_key(conn, str(row.id))


def rotate_key(conn: sqlite3.Connection, ref: str, pepper: bytes, now_s: float) -> tuple[str, KeyRow]:
    """Revoke ref and issue a key of the same tier and owner in one transaction."""
    old = find_key(conn, ref)
    if old.revoked_at is not None:
        raise ProxyError(f"key {old.prefix} (id {old.id}) is revoked; create a new one")
    with transaction(conn):
        key, new_id = _insert_key(conn, old.tier, old.owner, pepper, now_s)
        conn.execute("UPDATE api_keys SET revoked_at = ?, replaced_by = ? WHERE id = ?",
                     (now_s, new_id, old.id))
    return key, find_key(conn, str(new_id))


def match_key(candidates: list[tuple[bytes, KeyRow]], wanted: bytes) -> KeyRow | None:
    """The candidate whose digest equals wanted, comparing every candidate in constant time."""
    found = None
    for stored, row in candidates:
        if hmac.compare_digest(stored, wanted):
            found = row
    return found


def lookup_key(conn: sqlite3.Connection, key: str, pepper: bytes) -> KeyRow | None:
    """The stored row of a well-formed key (revoked or not), or None if it was never issued."""
    rows = conn.execute(f"SELECT digest, {_COLUMNS} FROM api_keys WHERE prefix = ?",
                        (display_prefix(key),)).fetchall()
    return match_key([(r[0], KeyRow(*r[1:])) for r in rows], digest(key, pepper))

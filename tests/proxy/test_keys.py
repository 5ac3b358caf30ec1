"""Key format, checksum, digests and constant-time matching; key commands on SQLite."""
from __future__ import annotations

import hmac
import time

import pytest

from db.connection import connect
from proxy import keys
from proxy.errors import ProxyError

PEPPER = b"unit-test-pepper-0123456789"


def test_a_new_key_has_the_prefix_30_random_base62_and_a_crc32_checksum():
    key = keys.generate_key()
    assert len(key) == 39 and key.startswith("nt_")
    assert set(key[3:]) <= set(keys.BASE62)
    assert keys.checksum(key[3:33]) == key[33:]
    assert keys.well_formed(key)


def test_every_single_character_typo_fails_the_checksum():
    key = keys.generate_key()
    for i in range(3, len(key)):
        for c in "0aZ":
            if c != key[i]:
                assert not keys.well_formed(key[:i] + c + key[i + 1:]), (i, c)


@pytest.mark.parametrize("bad", ["", "nt_", "nt_" + "a" * 36, "xx_" + "a" * 36, "nt_" + "é" * 36,
                                 "nt_" + "a" * 35 + "!", None])
def test_malformed_keys_are_rejected_without_a_lookup(bad):
    if bad is None:
        bad = keys.generate_key()[:-1]
    assert not keys.well_formed(bad)


def test_only_the_digest_and_a_short_prefix_are_stored(tmp_path):
    conn = connect(tmp_path / "k.sqlite")
    key = keys.create_key(conn, "pro", "dana", PEPPER, 1.0)
    prefix, digest = conn.execute("SELECT prefix, digest FROM api_keys").fetchone()
    assert prefix == key[:9] and digest == keys.digest(key, PEPPER)
    dump = "\n".join(conn.iterdump())
    assert key not in dump and key[9:] not in dump
    assert keys.lookup_key(conn, key, PEPPER).owner == "dana"
    assert keys.lookup_key(conn, key, b"another-pepper-0123456789") is None


def test_rotate_revokes_and_links_the_replacement(tmp_path):
    conn = connect(tmp_path / "k.sqlite")
    old = keys.create_key(conn, "enterprise", "erin", PEPPER, 1.0)
    new, row = keys.rotate_key(conn, old[:9], PEPPER, 2.0)
    gone = keys.lookup_key(conn, old, PEPPER)
    assert gone.revoked_at == 2.0 and gone.replaced_by == row.id
    assert keys.lookup_key(conn, new, PEPPER).tier == "enterprise"
    with pytest.raises(ProxyError, match="revoked"):
        keys.rotate_key(conn, old[:9], PEPPER, 3.0)
    with pytest.raises(ProxyError, match="unknown tier"):
        keys.create_key(conn, "gold", "x", PEPPER, 1.0)


@pytest.mark.parametrize("value, message", [(None, "NETTRACE_KEY_PEPPER is not set"),
                                            ("short", "shorter than")])
def test_a_missing_or_short_pepper_names_the_variable(value, message):
    with pytest.raises(ProxyError, match=message) as err:
        keys.check_pepper(value)
    assert "NETTRACE_KEY_PEPPER" in str(err.value)


def test_matching_compares_every_candidate_with_compare_digest(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)
    monkeypatch.setattr(keys.hmac, "compare_digest", spy)
    rows = [(bytes([i]) * 32, i) for i in range(5)]
    assert keys.match_key(rows, bytes([0]) * 32) == 0  # found first, yet all five compared
    assert len(calls) == 5


def test_matching_time_does_not_depend_on_where_the_digests_differ():
    """Interleaved batches, fastest of each kept: the minimum is what other load cannot inflate."""
    stored = bytes(range(32))
    wanted = {"early": bytes([255]) + stored[1:], "late": stored[:-1] + bytes([255])}
    best = dict.fromkeys(wanted, float("inf"))
    for _ in range(60):
        for name, digest in wanted.items():
            t = time.perf_counter_ns()
            for _ in range(2000):
                keys.match_key([(stored, 1)], digest)
            best[name] = min(best[name], time.perf_counter_ns() - t)
    ratio = best["early"] / best["late"]
    assert 0.75 < ratio < 1.33, ratio

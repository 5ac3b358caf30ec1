"""SQL of the webhooks (db/schema.py migration 7): registrations, the delivery queue, the attempt
log and the fan-out cursor. Every function takes the connection first; the proxy runs them in a
thread, one at a time (Store)."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from api.contract import MAX_WEBHOOKS_PER_KEY, SEVERITIES, TIERS, WEBHOOKS
from db.connection import transaction
from proxy.keys import BASE62, KeyRow, list_keys
from proxy.payloads import render_body
from proxy.rows import transitions_after

ID_CHARS = 20
SALT_BYTES = 16
KEPT_ATTEMPTS = 100  # per webhook: what GET .../deliveries lists
PING_SEQ = 0


class WebhookLimit(Exception):
    """The key already has MAX_WEBHOOKS_PER_KEY webhooks."""


@dataclass(frozen=True, slots=True)
class Filters:
    types: tuple[str, ...] = ()  # empty: every type
    targets: tuple[str, ...] = ()  # hosts; empty: every target
    categories: tuple[str, ...] = ()  # slugs; empty: every category
    min_severity: str = SEVERITIES[0]
    in_session: bool | None = None

    def matches(self, signal: dict, hosts_of: Callable[[str], frozenset[str]]) -> bool:
        """Whether a signal (as proxy/rows.py reads it) passes; hosts_of(slug) names the
        targets of a category."""
        return ((not self.types or signal["type"] in self.types)
                and (not self.targets or signal["target"] in self.targets)
                and (not self.categories
                     or any(signal["target"] in hosts_of(c) for c in self.categories))
                and _rank(signal["severity"]) >= _rank(self.min_severity)
                and (self.in_session is None or bool(signal["in_session"]) == self.in_session))

    def to_json(self) -> str:
        return json.dumps({"types": self.types, "targets": self.targets,
                           "categories": self.categories, "min_severity": self.min_severity,
                           "in_session": self.in_session})

    @staticmethod
    def from_json(text: str) -> "Filters":
        d = json.loads(text)
        return Filters(tuple(d["types"]), tuple(d["targets"]), tuple(d["categories"]),
                       d["min_severity"], d["in_session"])


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    key_id: int
    url: str
    salt: bytes
    format: str
    filters: Filters
    created_at: float  # unix s
    after_seq: int  # sent the transitions after this seq
    failures: int  # consecutive failed attempts, as last stored
    disabled_at: float | None  # unix s
    disabled_reason: str | None


@dataclass(slots=True)
class Queued:
    """One delivery waiting in the queue (its body stays in SQLite until it is sent)."""
    qid: int
    id: str
    webhook_id: str
    event: str  # opened | resolved | ping
    queued_at: float  # unix s
    attempts: int
    next_at: float  # unix s


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt's result, as the worker stores it."""
    queued: Queued
    at: float  # unix s the attempt started
    status: int | None
    error: str | None
    latency_ms: float
    outcome: str  # delivered | retrying | gave_up | disabled
    failures: int  # the webhook's consecutive failures after this attempt
    disabled_reason: str | None = None


def signing_secret(pepper: bytes, salt: bytes) -> str:
    """A webhook's secret: derived, so a copy of the database alone cannot forge deliveries."""
    return "whsec_" + hmac.new(pepper, b"nettrace-webhook:" + salt, hashlib.sha256).hexdigest()


def delivery_id(webhook_id: str, seq: int) -> str:
    """The X-NetTrace-Delivery of a webhook's delivery of transition seq: one per pair."""
    return f"dlv_{webhook_id.removeprefix('wh_')}_{seq}"


def live_keys(conn: sqlite3.Connection) -> dict[int, KeyRow]:
    """Each key id mapped to the live key it now answers to (itself, or the last replacement
    of its rotations), left out when that key is revoked or its tier has no webhooks."""
    rows = {r.id: r for r in list_keys(conn)}
    out = {}
    for key_id, row in rows.items():
        for _ in range(len(rows)):  # a rotation chain is never longer than the table
            if row.replaced_by is None or row.replaced_by not in rows:
                break
            row = rows[row.replaced_by]
        if row.revoked_at is None and WEBHOOKS in TIERS[row.tier].features:
            out[key_id] = row
    return out


def owned_key_ids(conn: sqlite3.Connection, key_id: int) -> list[int]:
    """The ids whose webhooks belong to key_id: its own and those of the keys it replaced."""
    return sorted(k for k, row in live_keys(conn).items() if row.id == key_id)


_COLUMNS = ("id, key_id, url, salt, format, filters, created_at, after_seq, failures, "
            "disabled_at, disabled_reason")


def _webhook(row: tuple) -> Webhook:
    return Webhook(*row[:5], Filters.from_json(row[5]), *row[6:])


def webhooks_of(conn: sqlite3.Connection, key_ids: list[int]) -> list[tuple[Webhook, int]]:
    """(webhook, deliveries queued) of the keys key_ids, oldest first."""
    marks = ",".join("?" * len(key_ids))
    rows = conn.execute(
        f"SELECT {_COLUMNS}, (SELECT count(*) FROM webhook_queue q WHERE q.webhook_id = w.id) "
        f"FROM webhooks w WHERE key_id IN ({marks}) ORDER BY created_at, id", key_ids).fetchall()
    return [(_webhook(r[:-1]), r[-1]) for r in rows]


def active_webhooks(conn: sqlite3.Connection) -> list[Webhook]:
    """Webhooks that are not disabled and whose key is live and may use them."""
    live = live_keys(conn)
    rows = conn.execute(f"SELECT {_COLUMNS} FROM webhooks WHERE disabled_at IS NULL").fetchall()
    return [w for w in map(_webhook, rows) if w.key_id in live]


def insert_webhook(conn: sqlite3.Connection, key_id: int, key_ids: list[int], url: str,
                   fmt: str, filters: Filters, now_s: float) -> Webhook:
    """Register a webhook of key_id and queue its ping, in one transaction; WebhookLimit when
    the keys key_ids (key_id's own and those it replaced) already have the maximum."""
    marks = ",".join("?" * len(key_ids))
    hook_id = "wh_" + "".join(secrets.choice(BASE62) for _ in range(ID_CHARS))
    with transaction(conn):
        count = conn.execute(f"SELECT count(*) FROM webhooks WHERE key_id IN ({marks})",
                             key_ids).fetchone()[0]
        if count >= MAX_WEBHOOKS_PER_KEY:
            raise WebhookLimit(f"this key has {count} webhooks, the most a key may have")
        after = conn.execute("SELECT coalesce(max(seq), 0) FROM signal_transitions").fetchone()[0]
        hook = Webhook(hook_id, key_id, url, secrets.token_bytes(SALT_BYTES), fmt, filters,
                       now_s, after, 0, None, None)
        conn.execute(f"INSERT INTO webhooks ({_COLUMNS}) VALUES ({','.join('?' * 11)})",
                     (hook.id, hook.key_id, hook.url, hook.salt, hook.format,
                      filters.to_json(), now_s, after, 0, None, None))
        ping = {"type": "ping", "webhook_id": hook.id, "url": url}
        _enqueue(conn, hook, PING_SEQ, "ping", ping, now_s)
    return hook


def _enqueue(conn: sqlite3.Connection, hook: Webhook, seq: int, event: str, message: dict,
             now_s: float) -> None:
    did = delivery_id(hook.id, seq)
    conn.execute("INSERT OR IGNORE INTO webhook_queue (id, webhook_id, seq, event, body, "
                 "queued_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (did, hook.id, seq, event, render_body(hook.format, did, message), now_s, now_s))


def delete_webhook(conn: sqlite3.Connection, key_ids: list[int], hook_id: str) -> bool:
    """Remove one of the keys' webhooks with its queue and log; False when they have none such."""
    marks = ",".join("?" * len(key_ids))
    with transaction(conn):
        cur = conn.execute(f"DELETE FROM webhooks WHERE id = ? AND key_id IN ({marks})",
                           [hook_id, *key_ids])
    return cur.rowcount == 1


def attempts_of(conn: sqlite3.Connection, key_ids: list[int], hook_id: str) -> list[tuple] | None:
    """The webhook's last KEPT_ATTEMPTS attempts, newest first: (delivery_id, attempt, at,
    status, error, latency_ms, outcome); None when it is not one of the keys'."""
    marks = ",".join("?" * len(key_ids))
    if conn.execute(f"SELECT 1 FROM webhooks WHERE id = ? AND key_id IN ({marks})",
                    [hook_id, *key_ids]).fetchone() is None:
        return None
    return conn.execute("SELECT delivery_id, attempt, at, status, error, latency_ms, outcome "
                        "FROM webhook_attempts WHERE webhook_id = ? ORDER BY id DESC LIMIT ?",
                        (hook_id, KEPT_ATTEMPTS)).fetchall()


def fan_out(conn: sqlite3.Connection, hooks: list[Webhook],
            hosts_of: Callable[[str], frozenset[str]], now_s: float, limit: int) -> int:
    """Queue the transitions after the fan-out cursor for every webhook they match, and move
    the cursor past them, in one transaction. The first run starts at the newest transition
    (history is never replayed). Returns the number of transitions read (limit: read more)."""
    with transaction(conn):
        row = conn.execute("SELECT seq FROM webhook_fanout WHERE id = 1").fetchone()
        if row is None:
            conn.execute("INSERT INTO webhook_fanout (id, seq) SELECT 1, coalesce(max(seq), 0) "
                         "FROM signal_transitions")
            return 0
        transitions = transitions_after(conn, row[0], limit)
        for seq, text in transitions:
            message = json.loads(text)
            signal = message["signal"]
            for hook in hooks:
                if seq > hook.after_seq and hook.filters.matches(signal, hosts_of):
                    _enqueue(conn, hook, seq, message["type"], message, now_s)
        if transitions:
            conn.execute("UPDATE webhook_fanout SET seq = ? WHERE id = 1", (transitions[-1][0],))
    return len(transitions)


def has_transitions_after_cursor(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT (SELECT coalesce(max(seq), 0) FROM signal_transitions) > "
                       "coalesce((SELECT seq FROM webhook_fanout WHERE id = 1), -1)").fetchone()
    return bool(row[0])


def queued_after(conn: sqlite3.Connection, qid: int, limit: int) -> list[Queued]:
    rows = conn.execute("SELECT qid, id, webhook_id, event, queued_at, attempts, next_at FROM "
                        "webhook_queue WHERE qid > ? ORDER BY qid LIMIT ?", (qid, limit))
    return [Queued(*r) for r in rows]


def bodies(conn: sqlite3.Connection, qids: list[int]) -> dict[int, bytes]:
    marks = ",".join("?" * len(qids))
    return dict(conn.execute(f"SELECT qid, body FROM webhook_queue WHERE qid IN ({marks})", qids))


def record_attempts(conn: sqlite3.Connection, attempts: list[Attempt]) -> None:
    """Store attempts in one transaction: each is logged; a delivered or given-up delivery
    leaves the queue, a retried one keeps its next time; a webhook's failure count follows, and
    one disabled loses its queue. The log keeps each webhook's last KEPT_ATTEMPTS."""
    with transaction(conn):
        for a in attempts:
            q = a.queued
            conn.execute("INSERT INTO webhook_attempts (webhook_id, delivery_id, attempt, at, "
                         "status, error, latency_ms, outcome) SELECT ?, ?, ?, ?, ?, ?, ?, ? "
                         "WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?)",  # not deleted
                         (q.webhook_id, q.id, q.attempts, a.at, a.status, a.error,
                          a.latency_ms, a.outcome, q.webhook_id))
            if a.outcome == "retrying":
                conn.execute("UPDATE webhook_queue SET attempts = ?, next_at = ? WHERE qid = ?",
                             (q.attempts, q.next_at, q.qid))
            else:
                conn.execute("DELETE FROM webhook_queue WHERE qid = ?", (q.qid,))
            conn.execute("UPDATE webhooks SET failures = ? WHERE id = ?",
                         (a.failures, q.webhook_id))
            if a.outcome == "disabled":
                conn.execute("UPDATE webhooks SET disabled_at = ?, disabled_reason = ? "
                             "WHERE id = ?", (a.at, a.disabled_reason, q.webhook_id))
                conn.execute("DELETE FROM webhook_queue WHERE webhook_id = ?", (q.webhook_id,))
        for hook_id in {a.queued.webhook_id for a in attempts}:
            conn.execute("DELETE FROM webhook_attempts WHERE webhook_id = ? AND id <= (SELECT id "
                         "FROM webhook_attempts WHERE webhook_id = ? ORDER BY id DESC "
                         "LIMIT 1 OFFSET ?)", (hook_id, hook_id, KEPT_ATTEMPTS))


class Store:
    """A writer and a read-only connection, each used by one thread call at a time, so SQLite
    never blocks the event loop and reads never wait for a commit."""

    def __init__(self, writer: sqlite3.Connection, reader: sqlite3.Connection):
        self._conns = {False: (writer, asyncio.Lock()), True: (reader, asyncio.Lock())}

    async def run(self, fn, *args, readonly: bool = False):
        conn, lock = self._conns[readonly]
        async with lock:
            return await asyncio.to_thread(fn, conn, *args)

    def close(self) -> None:
        for conn, _ in self._conns.values():
            conn.close()

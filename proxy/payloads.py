"""What a webhook delivery carries: the body in the webhook's format and the signature headers.

Bodies are made once, when a delivery is queued, so every retry sends the same bytes; only the
signature's timestamp changes. The signature is Stripe's scheme:
`X-NetTrace-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "{t}." + body)>`.
"""
from __future__ import annotations

import hashlib
import hmac
import json

USER_AGENT = "NetTrace-Webhooks/1"
SLACK_MAX_CHARS = 3000
DISCORD_MAX_CHARS = 2000
_ICONS = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}


def signature_header(secret: bytes, timestamp_s: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp_s}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp_s},v1={mac}"


def delivery_headers(secret: bytes, timestamp_s: int, delivery_id: str, event: str,
                     body: bytes) -> dict[str, str]:
    return {"content-type": "application/json", "user-agent": USER_AGENT,
            "x-nettrace-delivery": delivery_id, "x-nettrace-event": event,
            "x-nettrace-signature": signature_header(secret, timestamp_s, body)}


def render_body(fmt: str, delivery_id: str, message: dict) -> bytes:
    """The body of one delivery. message: a transition as proxy/rows.py reads it
    ({"type": "opened"|"resolved", "seq", "round_ts", "round_id", "signal": {...}}) or a ping
    ({"type": "ping", "webhook_id", ...})."""
    if fmt == "json":
        doc = {"delivery_id": delivery_id, **message}
    elif fmt == "slack":
        doc = {"text": _slack_escape(_line(message))[:SLACK_MAX_CHARS]}
    else:  # discord: no @mention in a stored description can ping anyone
        doc = {"content": _line(message)[:DISCORD_MAX_CHARS], "allowed_mentions": {"parse": []}}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def _line(message: dict) -> str:
    if message["type"] == "ping":
        return f"NetTrace webhook {message['webhook_id']} is connected."
    s = message["signal"]
    regions = s["regions"] if isinstance(s["regions"], list) else [str(s["regions"])]
    verb = "opened" if message["type"] == "opened" else "resolved"
    session = " during the market session" if s.get("in_session") else ""
    return (f"{_ICONS.get(s['severity'], '')} NetTrace {s['severity']} {verb}{session}: "
            f"{s['target']} {s['type']} ({s['scope']}, {', '.join(regions)}): "
            f"{s['description']} [{message['round_id']}]")


def _slack_escape(text: str) -> str:
    """Slack's three control characters, so a description cannot form a link or mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

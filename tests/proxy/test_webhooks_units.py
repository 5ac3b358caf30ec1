"""The pure parts of webhooks: the retry schedule, filters, bodies and signatures."""
from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest

from proxy.delivery import DeliveryPolicy
from proxy.payloads import delivery_headers, render_body, signature_header
from proxy.webhook_store import Filters, delivery_id, signing_secret

SIGNAL = {"id": "s1", "type": "level_shift", "target": "api.kraken.com", "region": "fra",
          "probe": "tcp", "scope": "global", "regions": ["fra", "ewr"], "severity": "warning",
          "in_session": True, "description": "Kraken +27.5 ms", "status": "open"}
MESSAGE = {"type": "opened", "seq": 7, "round_ts": 1_795_672_800,
           "round_id": "2026-11-26T06:00:00Z", "signal": SIGNAL}


def test_retries_back_off_exponentially_to_an_hour_and_fill_about_24_hours():
    policy = DeliveryPolicy()
    assert 24 <= policy.retry_delay_s(1) <= 36 and 48 <= policy.retry_delay_s(2) <= 72
    assert 2880 <= policy.retry_delay_s(30) <= 4320
    waits = [policy.retry_delay_s(n) for n in range(1, 40)]
    within_a_day = next(n for n in range(len(waits)) if sum(waits[:n + 1]) > policy.give_up_s)
    assert 25 <= within_a_day <= 40  # attempts before the delivery is given up


@pytest.mark.parametrize("filters, signal, passes", [
    (Filters(), SIGNAL, True),
    (Filters(types=("loss",)), SIGNAL, False),
    (Filters(types=("loss", "level_shift")), SIGNAL, True),
    (Filters(targets=("api.binance.com",)), SIGNAL, False),
    (Filters(categories=("crypto-exchanges",)), SIGNAL, True),
    (Filters(categories=("exchanges",)), SIGNAL, False),
    (Filters(min_severity="warning"), SIGNAL, True),
    (Filters(min_severity="critical"), SIGNAL, False),
    (Filters(min_severity="info"), SIGNAL | {"severity": "unheard-of"}, True),
    (Filters(in_session=True), SIGNAL, True),
    (Filters(in_session=False), SIGNAL, False),
])
def test_filters_pass_what_they_name(filters, signal, passes):
    hosts = {"crypto-exchanges": frozenset({"api.kraken.com"})}
    assert filters.matches(signal, lambda slug: hosts.get(slug, frozenset())) is passes
    assert Filters.from_json(filters.to_json()) == filters


def test_the_signature_is_hmac_sha256_of_the_timestamp_dot_body():
    body = b'{"a":1}'
    header = signature_header(b"whsec_x", 1_700_000_000, body)
    t, v1 = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", header).groups()
    assert v1 == hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    headers = delivery_headers(b"whsec_x", 1_700_000_000, "dlv_a_7", "opened", body)
    assert headers["x-nettrace-delivery"] == "dlv_a_7" and headers["x-nettrace-event"] == "opened"


def test_secrets_derive_from_the_pepper_and_delivery_ids_from_webhook_and_transition():
    a, b = signing_secret(b"pepper-1", b"salt"), signing_secret(b"pepper-2", b"salt")
    assert a != b and a.startswith("whsec_") and len(a) == 70
    assert delivery_id("wh_abc", 7) == "dlv_abc_7" != delivery_id("wh_abc", 8)


def test_the_json_body_is_the_transition_with_its_delivery_id():
    doc = json.loads(render_body("json", "dlv_a_7", MESSAGE))
    assert doc == {"delivery_id": "dlv_a_7", **MESSAGE}


def test_slack_and_discord_bodies_are_one_line_that_cannot_mention_or_link():
    hostile = MESSAGE | {"signal": SIGNAL | {"description": "<@U1> <!here> @everyone x" * 300}}
    slack = json.loads(render_body("slack", "d", hostile))
    discord = json.loads(render_body("discord", "d", hostile))
    assert set(slack) == {"text"} and "<" not in slack["text"] and len(slack["text"]) <= 3000
    assert slack["text"].startswith("⚠️ NetTrace warning opened during the market session: "
                                    "api.kraken.com level_shift (global, fra, ewr): &lt;@U1&gt;")
    assert discord["allowed_mentions"] == {"parse": []} and len(discord["content"]) <= 2000
    ping = json.loads(render_body("slack", "d", {"type": "ping", "webhook_id": "wh_x"}))
    assert ping == {"text": "NetTrace webhook wh_x is connected."}

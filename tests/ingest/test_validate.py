"""Property tests of the record validator: every record the collector can emit is accepted and
round-trips into its row; any single corrupted field is rejected naming that field."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from collect.records import PROBES, Hop, Measurement, ProbeResult
from collect.records import COLUMNS, wire_safe
from ingest.validate import ValidationError, validate_batch, validate_record

NOW = 1_795_700_000.0
rtts = st.floats(min_value=0.0, max_value=60_000.0, allow_nan=False, allow_infinity=False)
hosts = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}\.){1,3}[a-z]{2,6}", fullmatch=True)
hops = st.builds(Hop, ttl=st.integers(1, 64),
                 address=st.one_of(st.none(), st.from_regex(r"10\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", fullmatch=True)),
                 rtt_ms=st.one_of(st.none(), rtts))
measurements = st.builds(
    Measurement,
    samples_ms=st.lists(st.one_of(st.none(), rtts), max_size=20).map(tuple),
    error=st.one_of(st.none(), st.sampled_from(["timeout", "refused", "no route to host"])),
    hops=st.one_of(st.none(), st.lists(hops, max_size=8).map(tuple)),
    status=st.one_of(st.none(), st.integers(100, 599)),
    addresses=st.one_of(st.none(), st.lists(st.sampled_from(["192.0.2.1", "2001:db8::1"]), max_size=3).map(tuple)),
)


@st.composite
def probe_results(draw) -> ProbeResult:
    round_ts = draw(st.integers(1_600_000_000 // 900, int(NOW) // 900 - 1)) * 900
    m = draw(measurements)
    if m.error is None and not any(s is not None for s in m.samples_ms):
        m = Measurement(m.samples_ms, error="timeout", hops=m.hops, status=m.status, addresses=m.addresses)
    return ProbeResult(draw(hosts), draw(st.sampled_from(["ewr", "ord", "sin"])), draw(st.sampled_from(PROBES)),
                       round_ts, round_ts + draw(st.floats(0, 899, allow_nan=False)), m)


@settings(max_examples=300, deadline=None)
@given(probe_results())
def test_every_record_the_collector_emits_is_accepted_as_its_row(result):
    wire = json.loads(json.dumps(result.to_json()))  # what crosses the network
    row = dict(zip(COLUMNS, validate_record(wire, NOW)))
    assert (row["target"], row["region"], row["probe"], row["round_ts"]) == \
        (result.target, result.region, result.probe, result.round_ts)
    assert row["ok"] == int(result.ok)
    assert json.loads(row["samples_ms"]) == wire["samples_ms"]
    assert abs(row["ts"] - result.ts) < 0.001


CORRUPTIONS = st.sampled_from([
    ("loss", -0.5), ("loss", "0"), ("rtt_ms", float("inf")), ("min_ms", True), ("ok", None),
    ("probe", "ICMP"), ("target", "bad host"), ("target", ""), ("region", "EWR"), ("schema", 1.0),
    ("ts", 1_700_000_000), ("round_id", "yesterday"), ("samples_ms", {"a": 1}), ("error", 7),
    ("error", "\x1b[31m"), ("id", None),
])


@settings(max_examples=300, deadline=None)
@given(probe_results(), CORRUPTIONS)
def test_one_corrupted_field_is_rejected_naming_that_field(result, corruption):
    key, value = corruption
    wire = result.to_json()
    wire[key] = value
    try:
        validate_batch({"results": [wire]}, NOW)
    except ValidationError as exc:
        # Changing target/region/probe/round_id breaks the id too; the field itself is named first.
        assert exc.path == f"results[0].{key}"
    else:
        raise AssertionError(f"{key}={value!r} was accepted")


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20))
def test_arbitrary_json_never_escapes_as_anything_but_a_validation_error(payload):
    try:
        validate_batch(payload, NOW)
    except ValidationError as exc:
        assert exc.path


@settings(max_examples=200, deadline=None)
@given(probe_results(), st.text(max_size=700), st.text(max_size=700))
def test_wire_safe_makes_any_error_or_issuer_text_acceptable(result, error, issuer):
    wire = {**result.to_json(), "error": error, "cert_issuer": issuer, "cert_expires": None}
    wire["ok"] = False
    validate_record(json.loads(json.dumps(wire_safe(wire))), NOW)

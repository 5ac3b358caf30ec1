"""The wire-schema check for result records (ProbeResult.to_json(), schema 1) and batches.

validate_record turns one record into a `results` row tuple or raises ValidationError whose
`path` names the first bad field (`results[3].samples_ms[2]`). Pure: the caller passes `now`.
"""
from __future__ import annotations

import json
import re
from datetime import datetime

import orjson

from ingest.errors import IngestError
from collect.records import COLUMNS, DETAIL_KEYS, FREE_TEXT, PROBES, SCHEMA, STAT_KEYS

MAX_BATCH_RESULTS = 10_000
MAX_SAMPLES = 1_000
MAX_LIST = 255  # hops (one per TTL), path, addresses
MAX_RTT_MS = 600_000.0
MAX_FUTURE_S = 300.0  # the signature's clock skew: nothing measured later than now + 5 min
MAX_EARLY_S = 300.0  # a probe may start this much before its round's slot (clock skew)
EPOCH_MIN = 1_577_836_800  # 2020-01-01: older timestamps are a broken clock, not data
HOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,252}")
REGION_RE = re.compile(r"[a-z0-9]{2,16}")
ISO_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z")
REQUIRED = ("schema", "id", "target", "region", "probe", "ts", "round_id", "ok", *STAT_KEYS,
            "loss", "samples_ms", "error")
KNOWN = frozenset(REQUIRED + DETAIL_KEYS)


class ValidationError(IngestError):
    """A record or batch breaks the wire schema; path names the first bad field."""

    def __init__(self, path: str, detail: str):
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.detail = detail


def validate_batch(payload: object, now: float | None, region: str | None = None) -> list[tuple]:
    """A pushed batch `{"results": [record, ...]}` as rows. region, when given, is the
    signed region every record must carry."""
    if type(payload) is not dict:
        raise ValidationError("$", "a batch is a JSON object with a results list")
    extra = sorted(set(payload) - {"results"})
    if extra:
        raise ValidationError(f"$.{extra[0]}"[:200], "unknown field")
    results = payload.get("results")
    if type(results) is not list or not 1 <= len(results) <= MAX_BATCH_RESULTS:
        raise ValidationError("$.results", f"must be a list of 1..{MAX_BATCH_RESULTS} results")
    rounds: dict[str, int] = {}
    rows = []
    for i, record in enumerate(results):
        row = validate_record(record, now, f"results[{i}]", rounds)
        if region is not None and row[1] != region:
            raise ValidationError(f"results[{i}].region", f"is not the signed region {region!r}")
        rows.append(row)
    return rows


def validate_record(record: object, now: float | None, where: str = "$",
                    rounds: dict[str, int] | None = None) -> tuple:
    """One record as a row in COLUMNS order. now=None skips the far-future check (backfill
    of trusted files); rounds caches parsed round ids across a batch."""
    if type(record) is not dict:
        raise ValidationError(where, "a result is a JSON object")
    for key in REQUIRED:
        if key not in record:
            raise ValidationError(f"{where}.{key}", "missing")
    if len(record) > len(REQUIRED) and not KNOWN.issuperset(record):
        unknown = sorted(str(k) for k in set(record) - KNOWN)[0]
        raise ValidationError(f"{where}.{unknown[:64]!r}", "unknown field")
    get = record.__getitem__
    if get("schema") != SCHEMA or type(get("schema")) is not int:
        raise ValidationError(f"{where}.schema", f"must be {SCHEMA}")
    target = _text(get("target"), f"{where}.target", 253, HOST_RE)
    region = _text(get("region"), f"{where}.region", 16, REGION_RE)
    probe = get("probe")
    if probe not in PROBES or type(probe) is not str:
        raise ValidationError(f"{where}.probe", f"must be one of {', '.join(PROBES)}")
    round_id = get("round_id")
    round_ts = (rounds or {}).get(round_id) if type(round_id) is str else None
    if round_ts is None:
        round_ts = _round_ts(round_id, f"{where}.round_id", now)
        if rounds is not None:
            rounds[round_id] = round_ts
    ts = _time(get("ts"), f"{where}.ts", now)
    if ts < round_ts - MAX_EARLY_S:
        raise ValidationError(f"{where}.ts", "is before its round")
    if get("id") != f"{region}/{round_id}/{target}/{probe}":
        raise ValidationError(f"{where}.id", "must be region/round_id/target/probe")
    ok = get("ok")
    if type(ok) is not bool:
        raise ValidationError(f"{where}.ok", "must be true or false")
    stats = [_rtt(get(k), where, k) for k in STAT_KEYS]
    if ok and stats[0] is None:
        raise ValidationError(f"{where}.rtt_ms", "is null while ok is true")
    loss = _number(get("loss"), where, "loss", 1.0)
    samples = _samples(get("samples_ms"), f"{where}.samples_ms")
    error = get("error")
    if error is not None:
        _text(error, f"{where}.error", FREE_TEXT["error"])
    detail = _detail(record, where) if len(record) > len(REQUIRED) else None
    return (target, region, probe, round_ts, ts, int(ok), *stats, loss, samples, detail, error,
            len(get("samples_ms")), record.get("fingerprint"))


def _text(value: object, path: str, max_len: int, pattern: re.Pattern | None = None) -> str:
    # isprintable() rejects control characters, lone surrogates and invisible format marks.
    if type(value) is not str or not 0 < len(value) <= max_len or not value.isprintable():
        raise ValidationError(path, f"must be printable text of 1..{max_len} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise ValidationError(path, "has characters outside the allowed set")
    return value


def _number(value: object, where: str, key: str | int, hi: float = MAX_RTT_MS) -> float:
    """value as a float in 0..hi; the error path is where.key (where[key] for an int key),
    built only on failure because this runs for every number of every record."""
    kind = type(value)
    # NaN and infinities fail the range test; bool is not a number here.
    if (kind is not float and kind is not int) or not 0 <= value <= hi:
        path = f"{where}[{key}]" if type(key) is int else f"{where}.{key}"
        raise ValidationError(path, f"must be a number in 0..{hi:g}")
    return float(value)


def _rtt(value: object, where: str, key: str) -> float | None:
    if value is None:
        return None
    try:
        return _number(value, where, key)
    except ValidationError as exc:
        raise ValidationError(exc.path, f"{exc.detail} or null") from None


def _samples(value: object, path: str) -> str:
    """The samples as the JSON text of the samples_ms column (floats, null for a loss)."""
    if type(value) is not list or len(value) > MAX_SAMPLES:
        raise ValidationError(path, f"must be a list of at most {MAX_SAMPLES} samples")
    if all(type(s) is float and 0.0 <= s <= MAX_RTT_MS for s in value if s is not None):
        return orjson.dumps(value).decode()  # the common case: one C call
    return orjson.dumps([None if s is None else _number(s, path, i)
                         for i, s in enumerate(value)]).decode()


def _parse_iso(value: object, path: str) -> float:
    if type(value) is not str or not ISO_RE.fullmatch(value):
        raise ValidationError(path, "must be ISO 8601 UTC like 2026-01-02T03:04:05Z")
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ValidationError(path, "is not a real date and time") from None


def _time(value: object, path: str, now: float | None) -> float:
    unix_s = _parse_iso(value, path)
    if unix_s < EPOCH_MIN:
        raise ValidationError(path, "is before 2020")
    if now is not None and unix_s > now + MAX_FUTURE_S:
        raise ValidationError(path, "is in the future")
    return unix_s


def _round_ts(value: object, path: str, now: float | None) -> int:
    unix_s = _time(value, path, now)
    if "." in value:
        raise ValidationError(path, "a round id has whole seconds")
    return int(unix_s)


def _detail(record: dict, where: str) -> str | None:
    """The probe-specific fields as the JSON of the `detail` column."""
    detail = {}
    for key in DETAIL_KEYS:
        if key in record:
            detail[key] = record[key]
            _DETAIL_CHECKS[key](record[key], f"{where}.{key}")
    return json.dumps(detail, separators=(",", ":"), ensure_ascii=False) if detail else None


def _hops(value: object, path: str) -> None:
    if type(value) is not list or len(value) > MAX_LIST:
        raise ValidationError(path, f"must be a list of at most {MAX_LIST} hops")
    for i, hop in enumerate(value):
        where = f"{path}[{i}]"
        if type(hop) is not dict or set(hop) != {"ttl", "address", "rtt_ms"}:
            raise ValidationError(where, "a hop is {ttl, address, rtt_ms}")
        if type(hop["ttl"]) is not int or not 1 <= hop["ttl"] <= 255:
            raise ValidationError(f"{where}.ttl", "must be an integer in 1..255")
        _text(hop["address"], f"{where}.address", 64, HOST_RE if hop["address"] != "*" else None)
        _rtt(hop["rtt_ms"], where, "rtt_ms")


def _addresses(value: object, path: str) -> None:
    if type(value) is not list or len(value) > MAX_LIST:
        raise ValidationError(path, f"must be a list of at most {MAX_LIST} addresses")
    for i, address in enumerate(value):
        _text(address, f"{path}[{i}]", 64, HOST_RE)


def _optional_text(max_len: int):
    def check(value: object, path: str) -> None:
        if value is not None:
            _text(value, path, max_len)
    return check


def _status(value: object, path: str) -> None:
    if value is not None and (type(value) is not int or not 100 <= value <= 599):
        raise ValidationError(path, "must be an HTTP status 100..599 or null")


_DETAIL_CHECKS = {
    "hops": _hops, "path": _addresses, "status": _status, "addresses": _addresses,
    "connect_ms": _samples,  # like samples_ms: ms or null per sample
    **{key: _optional_text(limit) for key, limit in FREE_TEXT.items() if key != "error"},
}


"""The one OpenAPI 3.1 document of the API, made from the endpoint table in api/contract.py. The
build writes it to public/api/v1/openapi.json and the proxy serves that file (or, before any
build, this same document). OpenAPI allows only `x-` extensions at the top level, so the
document's schema and generated_at are `x-schema` and `x-generated-at`."""
from __future__ import annotations

from api.contract import (ENDPOINTS, EVENT_TYPES, EXPORT_FORMATS, HOST_PATTERN, MAX_HOST_CHARS,
                          MAX_WEBHOOK_CATEGORIES, MAX_WEBHOOK_TARGETS, SEVERITIES, TIERS,
                          WEBHOOK_FORMATS, WEBHOOK_ID_PATTERN, Endpoint, Param)
from collect.records import iso_utc

_INT = {"type": "string", "pattern": "^[0-9]+$"}
_QUOTA_HEADERS = {
    name: {"description": text, "schema": schema} for name, text, schema in (
        ("X-RateLimit-Limit", "calls per UTC day (absent for unlimited keys)", _INT),
        ("X-RateLimit-Remaining", "calls left today (absent for unlimited keys)", _INT),
        ("X-RateLimit-Reset", "unix seconds of the next UTC midnight", _INT),
        ("X-RateLimit-Used", "calls counted today", _INT),
        ("RateLimit-Policy", "IETF draft: \"daily\";q=LIMIT;w=86400", {"type": "string"}),
        ("RateLimit", "IETF draft: \"daily\";r=REMAINING;t=SECONDS", {"type": "string"}))}
_STRING = {"schema": {"type": "string"}}
_FILE_CONTENT = {  # answers that are not JSON, by Endpoint.answer
    "Prometheus": {"text/plain": _STRING},
    "Svg": {"image/svg+xml": _STRING},
    "Png": {"image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}}},
    "Export": {media: _STRING for media in EXPORT_FORMATS.values()},
    "Atom": {"application/atom+xml": _STRING},
    "OpenApi": {"application/json": {"schema": {
        "type": "object", "required": ["openapi", "info", "paths"],
        "properties": {"openapi": {"type": "string"}, "info": {"type": "object"},
                       "paths": {"type": "object"}}}}},
}
_FILE_ERRORS = {"304": "NotModified", "400": "BadRequest", "404": "NotFound", "414": "TooLong",
                "431": "TooLarge"}
_KEYED_ERRORS = _FILE_ERRORS | {"401": "Unauthorized", "403": "Forbidden", "429": "TooMany"}

_SIGNAL_EVENT = {
    "type": "object",
    "required": ["id", "type", "target", "region", "regions", "scope", "probe", "started_at",
                 "ended_at", "status", "before_ms", "during_ms", "peak_z", "severity",
                 "description"],
    "properties": {
        "id": {"type": "string", "description": "stable: the same from onset to resolution, "
               "and across builds and restarts"},
        "type": {"type": "string", "description": "level_shift (a sustained RTT change), spike "
                 "(a transient one), loss (a sustained rise in packet loss), route_change, "
                 "divergence (one venue apart from its category), trend; a route change and a "
                 "level shift that start within 2 rounds on one target and region are one "
                 "joined event", "examples": ["level_shift"]},
        "target": {"type": "string", "description": "the target's host"},
        "region": {"type": "string", "description": "the region it was first seen from"},
        "regions": {"type": "array", "items": {"type": "string"},
                    "description": "every region that agrees"},
        "scope": {"type": "string", "enum": ["regional", "global"]},
        "probe": {"type": "string", "examples": ["icmp"]},
        "started_at": {"type": "string", "format": "date-time", "description": "the onset"},
        "ended_at": {"type": ["string", "null"], "format": "date-time",
                     "description": "null while open"},
        "status": {"type": "string", "enum": ["open", "resolved"]},
        "before_ms": {"type": ["number", "null"], "description": "the level before, in ms"},
        "during_ms": {"type": ["number", "null"], "description": "the level during, in ms"},
        "peak_z": {"type": ["number", "null"], "description": "the largest z-score of the event"},
        "severity": {"type": "string", "enum": ["info", "warning", "critical"]},
        "description": {"type": "string", "description": "one line, e.g. \"route via 10.0.3.1 "
                        "replaced 10.0.2.1 at hop 4; RTT +38 ms\""},
        "detail": {"type": ["object", "null"], "description": "what the type adds, e.g. the hops a route "
                   "change replaced"},
        "in_session": {"type": "boolean", "description": "whether it opened while the target's "
                       "market was in session (always true for 24/7 venues)"},
    },
}
_TIME = {"type": "string", "format": "date-time"}
_WEBHOOK_FILTERS = {
    "types": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)},
              "uniqueItems": True, "description": "event types sent (empty: all)"},
    "targets": {"type": "array", "maxItems": MAX_WEBHOOK_TARGETS, "uniqueItems": True,
                "description": "hosts whose events are sent (empty: all)", "items": {
                    "type": "string", "pattern": f"^{HOST_PATTERN}$", "maxLength": MAX_HOST_CHARS}},
    "categories": {"type": "array", "maxItems": MAX_WEBHOOK_CATEGORIES, "uniqueItems": True,
                   "description": "category names or slugs whose targets' events are sent "
                   "(empty: all)", "items": {"type": "string", "minLength": 1, "maxLength": 100}},
    "min_severity": {"type": "string", "enum": list(SEVERITIES), "default": SEVERITIES[0]},
    "in_session": {"type": ["boolean", "null"], "default": None, "description": "only events "
                   "that opened in (true) or out of (false) session; null: both"},
    "format": {"type": "string", "enum": list(WEBHOOK_FORMATS), "default": "json",
               "description": "json (the transition and the event), slack or discord (a line "
               "for their incoming webhooks)"},
}
_WEBHOOK = {
    "type": "object",
    "required": ["id", "url", *_WEBHOOK_FILTERS, "created_at", "status", "disabled_at",
                 "disabled_reason", "consecutive_failures", "queued"],
    "properties": {
        "id": {"type": "string", "pattern": f"^{WEBHOOK_ID_PATTERN}$"},
        "url": {"type": "string"}, **_WEBHOOK_FILTERS, "created_at": _TIME,
        "status": {"type": "string", "enum": ["active", "disabled"]},
        "disabled_at": {"type": ["string", "null"], "format": "date-time"},
        "disabled_reason": {"type": ["string", "null"], "description": "why it was disabled"},
        "consecutive_failures": {"type": "integer", "minimum": 0},
        "queued": {"type": "integer", "minimum": 0, "description": "deliveries waiting"}},
}
_ATTEMPT = {
    "type": "object",
    "required": ["delivery_id", "attempt", "at", "status", "error", "latency_ms", "outcome"],
    "properties": {
        "delivery_id": {"type": "string", "description": "as sent in X-NetTrace-Delivery"},
        "attempt": {"type": "integer", "minimum": 1}, "at": _TIME,
        "status": {"type": ["integer", "null"], "description": "the receiver's HTTP status"},
        "error": {"type": ["string", "null"]}, "latency_ms": {"type": "number"},
        "outcome": {"type": "string", "enum": ["delivered", "retrying", "gave_up", "disabled"]}},
}
_SCHEMAS = {
    "Document": {
        "type": "object", "required": ["schema", "generated_at"],
        "properties": {"schema": {"type": "string", "examples": ["nettrace.latency/1"]},
                       "generated_at": {"type": "string", "format": "date-time"}},
        "additionalProperties": True},
    "Shields": {
        "type": "object", "required": ["schemaVersion", "label", "message", "color"],
        "properties": {"schemaVersion": {"const": 1}, "label": {"type": "string"},
                       "message": {"type": "string"}, "color": {"type": "string"},
                       "cacheSeconds": {"type": "integer"}}},
    "Signals": {"allOf": [{"$ref": "#/components/schemas/Document"}, {
        "required": ["event_schema", "detector", "signals"],
        "properties": {"event_schema": {"const": 1, "description": "the version of the event shape"},
                       "detector": {"type": "string", "description": "the detector's version"},
                       "signals": {"type": "array",
                                   "items": {"$ref": "#/components/schemas/SignalEvent"}}}}]},
    "SignalEvent": _SIGNAL_EVENT,
    "WebhookRequest": {
        "type": "object", "required": ["url"], "additionalProperties": False,
        "properties": {"url": {"type": "string", "format": "uri", "maxLength": 2048,
                               "description": "https, on a host whose every address is public"},
                       **_WEBHOOK_FILTERS}},
    "Webhook": _WEBHOOK,
    "WebhookCreated": {"allOf": [{"$ref": "#/components/schemas/Webhook"}, {
        "required": ["secret"], "properties": {"secret": {
            "type": "string",
            "description": "the HMAC key of X-NetTrace-Signature; shown once"}}}]},
    "Webhooks": {"allOf": [{"$ref": "#/components/schemas/Document"}, {
        "properties": {"webhooks": {"type": "array",
                                    "items": {"$ref": "#/components/schemas/Webhook"}}}}]},
    "Deliveries": {"allOf": [{"$ref": "#/components/schemas/Document"}, {
        "properties": {"webhook_id": {"type": "string"}, "attempts": {
            "type": "array", "items": _ATTEMPT, "maxItems": 100}}}]},
    "Error": {
        "type": "object", "required": ["error", "detail"],
        "properties": {"error": {"type": "string"}, "detail": {"type": "string"},
                       "required_tier": {"type": "string", "enum": list(TIERS)}}},
}


def tiers_doc() -> dict:
    """Each tier's limits, as the docs list them."""
    return {t.name: {"calls_per_day": t.calls_per_day, "history_hours": t.history_hours}
            for t in TIERS.values()}


def openapi_document(generated_at_s: float) -> dict:
    """The whole document; generated_at_s (unix s) is the only input besides the contract."""
    http = [e for e in ENDPOINTS if e.answer != "WebSocket"]
    return {
        "openapi": "3.1.0",
        "info": {"title": "NetTrace API", "version": "1",
                 "description": _description([e for e in ENDPOINTS if e not in http]),
                 "license": {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
                 "x-tiers": tiers_doc()},
        "servers": [{"url": "/"}],
        "tags": [{"name": "cdn", "description": "static files under public/"},
                 {"name": "proxy", "description": "the keyed proxy"}],
        "paths": _paths(http),
        "components": {"schemas": _SCHEMAS, "responses": _responses(), "securitySchemes": {
            "apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "nt_..."}}},
        "x-schema": "nettrace.openapi/1",
        "x-generated-at": iso_utc(generated_at_s),
    }


def _paths(endpoints: list[Endpoint]) -> dict:
    paths: dict[str, dict] = {}
    for e in endpoints:
        paths.setdefault(e.path, {})[e.method] = _operation(e)
    return paths


def _description(websockets: list[Endpoint]) -> str:
    lines = ["Network latency to financial endpoints from 7 regions. Files tagged cdn are free "
             "static files; endpoints tagged proxy need an API key (Authorization: Bearer "
             "nt_...) of the tier shown in x-tier. Quotas count per key per UTC day."]
    lines += [f"WebSocket `GET {e.path}` ({e.tier} tier and above, same header; not an HTTP "
              f"operation, so not under paths): {e.description}" for e in websockets]
    return "\n\n".join(lines)


def _operation(e: Endpoint) -> dict:
    keyed = e.served_by == "proxy"
    op = {"operationId": _operation_id(e), "summary": e.summary}
    if e.description or keyed:
        needs = f"Needs a key of the {e.tier} tier or above." if keyed else ""
        op["description"] = " ".join(s for s in (e.description, needs) if s)
    errors = _KEYED_ERRORS if keyed else _FILE_ERRORS
    if e.request is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{e.request}"}}}}
        errors = errors | {"409": "Conflict", "413": "BodyTooLarge"}
    return op | {
        "tags": [e.served_by],
        "x-tier": e.tier,
        "security": [{"apiKey": []}] if keyed else [],
        "parameters": [_parameter(p) for p in e.params],
        "responses": _ok(e, keyed) | {
            status: {"$ref": f"#/components/responses/{name}"}
            for status, name in sorted(errors.items())},
    }


def _ok(e: Endpoint, keyed: bool) -> dict:
    """The success answer by method: 200 with content, 201 created, 204 without content."""
    headers = {"headers": _QUOTA_HEADERS} if keyed else {}
    if e.method == "delete":
        return {"204": {"description": "removed"} | headers}
    content = _FILE_CONTENT.get(e.answer) or {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{e.answer}"}}}
    ok = {"description": "the data" if keyed else "the file", "content": content}
    return {"201" if e.method == "post" else "200": ok | headers}


def _parameter(p: Param) -> dict:
    doc = {"name": p.name, "in": p.where, "required": p.required or p.where == "path",
           "description": p.text, "schema": p.schema}
    return doc | ({"example": p.example} if p.example else {})


def _operation_id(e: Endpoint) -> str:
    """URL-safe and unique: cdnLatencyHostJson, proxyLatencyHostHistory."""
    words = "".join(c if c.isalnum() else " " for c in e.path.removeprefix("/api/v1")).split()
    method = "" if e.method == "get" else e.method.capitalize()
    return e.served_by + method + "".join(w.capitalize() for w in words)


def _responses() -> dict:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    out = {name: {"description": text, "content": error} for name, text in (
        ("BadRequest", "a bad parameter or path"),
        ("Unauthorized", "missing, malformed, unknown or revoked key"),
        ("Forbidden", "the key's tier is too low (required_tier names the one needed)"),
        ("NotFound", "unknown target, category or file"),
        ("TooLong", "a path or query over 8 KiB"),
        ("TooLarge", "headers over 16 KiB, one over 8 KiB, or more than 100"),
        ("Conflict", "a limit is reached (at most 10 webhooks per key)"),
        ("BodyTooLarge", "a request body over 64 KiB"))}
    out["TooMany"] = {"description": "the daily quota is spent", "content": error,
                      "headers": {"Retry-After": {"schema": _INT}, **_QUOTA_HEADERS}}
    out["NotModified"] = {"description": "the If-None-Match ETag still matches"}
    return out

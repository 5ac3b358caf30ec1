"""The proxy's OpenAPI 3.1 description, built from the tier table so the two cannot drift."""
from __future__ import annotations

from proxy.export import FORMATS
from proxy.files import PROMETHEUS_TYPE
from proxy.params import MAX_COMPARE, MAX_PARAM_CHARS, UNIX_PATTERN
from proxy.tiers import (COMPARE, EXPORT, LATENCY, MAX_HISTORY_HOURS, RANKINGS, ROUTES, SIGNALS,
                          TIERS, tier_for_feature)

_HOST_RE = "[A-Za-z0-9][A-Za-z0-9-]*(\\.[A-Za-z0-9-]+)+"
_HOST = {"name": "host", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": f"^{_HOST_RE}$", "maxLength": 253},
         "example": "api.binance.com"}
_INT = {"type": "string", "pattern": "^[0-9]+$"}
_QUOTA_HEADERS = {
    name: {"description": text, "schema": schema} for name, text, schema in (
        ("X-RateLimit-Limit", "calls per UTC day (absent for unlimited keys)", _INT),
        ("X-RateLimit-Remaining", "calls left today (absent for unlimited keys)", _INT),
        ("X-RateLimit-Reset", "unix seconds of the next UTC midnight", _INT),
        ("X-RateLimit-Used", "calls counted today", _INT),
        ("RateLimit-Policy", "IETF draft: \"daily\";q=LIMIT;w=86400", {"type": "string"}),
        ("RateLimit", "IETF draft: \"daily\";r=REMAINING;t=SECONDS", {"type": "string"}))}


STREAM_DOC = (
    "Send `Authorization: Bearer nt_...`. Quotas count per key per UTC day. Not an HTTP "
    "operation, so not under paths: `GET /api/v1/stream` is a WebSocket (enterprise, same "
    "header; 401/403/429 as JSON before the upgrade) that sends `{\"type\": \"subscribed\"}`, "
    "then one `{\"type\": \"round\", \"region\", \"round_id\", \"round_ts\", \"results\": [...]}` "
    "per region and round as they are ingested (results in the wire form of the export's "
    "JSON lines); a plain GET answers 426.")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _json_ok(description: str, headers: dict | None = None) -> dict:
    return {"description": description, "headers": headers or {},
            "content": {"application/json": {"schema": {"type": ["object", "array"]}}}}


def _keyed(summary: str, feature: str, parameters: list, ok: dict | None = None) -> dict:
    tier = tier_for_feature(feature).name
    return {"get": {
        "summary": summary, "description": f"Needs a key of the {tier} tier or above.",
        "security": [{"bearer": []}], "parameters": parameters,
        "responses": {"200": ok or _json_ok("the data", _QUOTA_HEADERS), "304": _ref("NotModified"),
                      **{s: _ref(n) for s, n in (("400", "BadRequest"), ("401", "Unauthorized"),
                                                 ("403", "Forbidden"), ("404", "NotFound"),
                                                 ("414", "TooLong"), ("429", "TooMany"),
                                                 ("431", "TooLarge"))}}}}


def _free(summary: str, content_type: str, parameters: list | None = None) -> dict:
    return {"get": {"summary": summary, "parameters": parameters or [], "responses": {
        "200": {"description": "the file", "content": {content_type: {"schema": {}}}},
        "304": _ref("NotModified"), "400": _ref("BadRequest"), "404": _ref("NotFound"),
        "414": _ref("TooLong"), "431": _ref("TooLarge")}}}


def _paths() -> dict:
    text = {"type": "string", "maxLength": MAX_PARAM_CHARS}
    instant = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"},
                         {"type": "string", "pattern": f"^{UNIX_PATTERN}$"}]}
    hours = {"name": "hours", "in": "query", "schema": {"type": "integer", "minimum": 1,
             "maximum": MAX_HISTORY_HOURS}, "description": "window, capped by the tier's history"}
    export_ok = {"description": "results streamed oldest round first", "headers": _QUOTA_HEADERS,
                 "content": {t: {"schema": {"type": "string"}} for t in FORMATS.values()}}
    return {
        "/api/v1/": _free("the API docs: every endpoint, its tier and an example", "application/json"),
        "/api/v1/openapi.json": _free("this description", "application/json"),
        "/api/v1/targets": _keyed("the catalog of targets", LATENCY, []),
        "/api/v1/latency/{host}": _keyed("latest RTT per region and probe", LATENCY, [_HOST]),
        "/api/v1/latency/{host}/history": _keyed("RTT history", LATENCY, [_HOST, hours]),
        "/api/v1/rankings": _keyed("fastest first, per region", RANKINGS, [
            {"name": "category", "in": "query", "schema": text, "example": "Crypto Exchanges"}]),
        "/api/v1/signals": _keyed("the latest round's signals", SIGNALS, []),
        "/api/v1/signals/history": _keyed("stored signals of the tier's window", SIGNALS, []),
        "/api/v1/routes/{host}": _keyed("hop lists and route changes per region", ROUTES, [_HOST]),
        "/api/v1/compare": _keyed("several targets side by side", COMPARE, [
            {"name": "targets", "in": "query", "required": True, "example": "a.com,b.com",
             "schema": {"type": "string", "pattern": f"^{_HOST_RE}(,{_HOST_RE}){{0,{MAX_COMPARE - 1}}}$",
                        "maxLength": MAX_PARAM_CHARS}}]),
        "/api/v1/export": _keyed("bulk export of stored results", EXPORT, [
            {"name": "from", "in": "query", "schema": instant, "description": "RFC 3339 or unix "
             "seconds; default 24 h before to; never before the tier's history"},
            {"name": "to", "in": "query", "schema": instant, "description": "RFC 3339 or unix "
             "seconds; default now"},
            {"name": "format", "in": "query", "schema": {"type": "string", "enum": list(FORMATS)}}],
            export_ok),
        "/metrics": _free("Prometheus text", PROMETHEUS_TYPE.split(";")[0]),
        "/widget/{host}": _free("the latency badge", "image/svg+xml", [_HOST]),
    }


def _responses() -> dict:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    out = {name: {"description": text, "content": error} for name, text in (
        ("BadRequest", "a bad parameter or path"), ("Unauthorized", "missing, malformed, unknown "
         "or revoked key"), ("Forbidden", "the key's tier is too low (required_tier names it)"),
        ("NotFound", "unknown target, category or file"), ("TooLong", "a path or query over 8 KiB"),
        ("TooLarge", "headers over 16 KiB, one over 8 KiB, or more than 100"))}
    out["TooMany"] = {"description": "the daily quota is spent", "content": error,
                      "headers": {"Retry-After": {"schema": _INT}, **_QUOTA_HEADERS}}
    out["NotModified"] = {"description": "the If-None-Match ETag still matches"}
    return out


def build_spec() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "NetTrace API (keyed proxy)", "version": "1.0.0",
                 "description": STREAM_DOC},
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": _responses(),
            "schemas": {"Error": {"type": "object", "required": ["error", "detail"], "properties": {
                "error": {"type": "string"}, "detail": {"type": "string"},
                "required_tier": {"type": "string", "enum": list(TIERS)}}}},
        },
    }

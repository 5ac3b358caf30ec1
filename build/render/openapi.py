"""api/v1/openapi.json (OpenAPI 3.1) from the endpoint table in build/render/api_docs.py. The keyed
proxy serves this file too. OpenAPI allows only `x-` extensions at the top level, so this
document's schema and generated_at are `x-schema` and `x-generated-at`."""
from __future__ import annotations

from build.render.api_docs import ENDPOINTS, TIERS, Endpoint
from build.compute.model import SiteModel
from build.render.json_api import API, dump_json
from collect.records import iso_utc

_ERROR = {"description": "{error, detail}",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_PROXY_ERRORS = {
    "400": _ERROR | {"description": "bad parameter"},
    "401": _ERROR | {"description": "missing or unknown key"},
    "403": _ERROR | {"description": "the key's tier does not include this"},
    "404": _ERROR | {"description": "no such target or file"},
    "429": _ERROR | {"description": "daily call quota used up"},
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
    "Error": {
        "type": "object", "required": ["error", "detail"],
        "properties": {"error": {"type": "string"}, "detail": {}}},
    "Text": {"type": "string"},
}


def render_openapi(model: SiteModel) -> dict[str, bytes]:
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "NetTrace API", "version": "1",
                 "description": "Network latency to financial endpoints from 7 regions. Files "
                                "tagged cdn are free static files; endpoints tagged proxy need "
                                "an API key (Authorization: Bearer nt_...) of the tier shown "
                                "in x-tier.",
                 "x-tiers": TIERS},
        "servers": [{"url": "/"}],
        "tags": [{"name": "cdn", "description": "static files under public/"},
                 {"name": "proxy", "description": "the keyed proxy"}],
        "paths": {e.path: {"get": _operation(e)} for e in ENDPOINTS},
        "components": {"schemas": _SCHEMAS, "securitySchemes": {
            "apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "nt_..."}}},
        "x-schema": "nettrace.openapi/1",
        "x-generated-at": iso_utc(model.generated_at),
    }
    return {f"{API}/openapi.json": dump_json(doc)}


def _operation(e: Endpoint) -> dict:
    op = {
        "operationId": _operation_id(e),
        "summary": e.summary,
        "tags": [e.served_by],
        "x-tier": e.tier,
        "security": [{"apiKey": []}] if e.served_by == "proxy" else [],
        "parameters": [_parameter(p) for p in e.params],
        "responses": {"200": _ok(e)} | (_PROXY_ERRORS if e.served_by == "proxy" else {}),
    }
    if e.path.endswith("/stream"):
        op["responses"] = {"101": {"description": "switching to a WebSocket"},
                           "426": _ERROR | {"description": "use a WebSocket"}} | _PROXY_ERRORS
    return op


def _ok(e: Endpoint) -> dict:
    if e.path == "/metrics":
        return {"description": "Prometheus text",
                "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}}
    if e.path.endswith("/export"):
        return {"description": "CSV or JSON Lines",
                "content": {"text/csv": {"schema": {"type": "string"}},
                            "application/x-ndjson": {"schema": {"type": "string"}}}}
    ref = {"$ref": f"#/components/schemas/{e.schema}"}
    return {"description": "OK", "content": {"application/json": {"schema": ref}}}


def _parameter(p) -> dict:
    schema = {"type": p.kind} | ({"enum": list(p.enum)} if p.enum else {})
    return {"name": p.name, "in": p.where, "required": p.where == "path",
            "description": p.text, "schema": schema}


def _operation_id(e: Endpoint) -> str:
    words = [w.strip("{}").replace(".json", "Json") for w in e.path.split("/") if w]
    return e.served_by + "_" + "_".join(w.replace(".", "_") for w in words)

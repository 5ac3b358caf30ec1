"""The API docs files from the contract (api/contract.py): api/v1/index.json, every endpoint with
its tier and a concrete example, and api/v1/openapi.json, the one OpenAPI document."""
from __future__ import annotations

from api.contract import ENDPOINTS, Endpoint
from api.openapi import openapi_document, tiers_doc
from build.compute.model import SiteModel
from build.render.json_api import API, dump_json, envelope


def example_url(e: Endpoint, model: SiteModel) -> str:
    hosts = [t.host for t in model.targets] or ["example.com"]
    fill = {"host": hosts[0], "host2": hosts[min(1, len(hosts) - 1)],
            "slug": model.categories[0].slug if model.categories else "all",
            "region": model.regions[0].code if model.regions else "fra",
            "day": "2026-01-01", "webhook_id": "wh_0123456789ABCDEFGHIJ"}
    return (e.path + e.query_example).format(**fill)


def render_index(model: SiteModel) -> dict[str, bytes]:
    endpoints = []
    for e in ENDPOINTS:
        doc = {"method": e.method.upper(), "path": e.path, "served_by": e.served_by,
               "tier": e.tier, "summary": e.summary, "example": example_url(e, model),
               "params": [{"name": p.name, "in": p.where, "type": p.schema.get("type", "string"),
                           "description": p.text} for p in e.params]}
        if e.served_by == "proxy":
            doc["auth"] = "Authorization: Bearer nt_..."
        endpoints.append(doc)
    doc = envelope("index", model.generated_at, tiers=tiers_doc(), endpoints=endpoints,
                   openapi=f"/{API}/openapi.json")
    return {f"{API}/index.json": dump_json(doc)}


def render_openapi(model: SiteModel) -> dict[str, bytes]:
    return {f"{API}/openapi.json": dump_json(openapi_document(model.generated_at))}

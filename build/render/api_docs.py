"""One table of every API endpoint (CDN files and keyed-proxy endpoints) with its tier; the
docs file api/v1/index.json and openapi.json (build/render/openapi.py) are both rendered from it."""
from __future__ import annotations

from dataclasses import dataclass

from build.compute.model import SiteModel
from build.render.json_api import API, dump_json, envelope

TIERS = {
    "free": {"calls_per_day": 100, "history_hours": 24},
    "pro": {"calls_per_day": 10_000, "history_hours": 720},
    "enterprise": {"calls_per_day": None, "history_hours": 2160},
}


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: str  # path | query
    kind: str  # string | integer
    text: str
    enum: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str  # OpenAPI template, {host} and {slug} filled in examples
    served_by: str  # cdn (public/, no key) | proxy (Authorization: Bearer nt_...)
    tier: str  # the lowest tier that may call it
    summary: str
    params: tuple[Param, ...] = ()
    schema: str = "Document"  # the components schema of a 200 answer
    query_example: str = ""


HOST = Param("host", "path", "string", "a target's host, as in targets.json")
ENDPOINTS = (
    Endpoint(f"/{API}/index.json", "cdn", "free", "These docs: every endpoint, its tier, an example"),
    Endpoint(f"/{API}/openapi.json", "cdn", "free", "OpenAPI 3.1 description of the API"),
    Endpoint(f"/{API}/targets.json", "cdn", "free", "Regions, categories and targets"),
    Endpoint(f"/{API}/latency/{{host}}.json", "cdn", "free",
             "Latest figures per region and probe", (HOST,)),
    Endpoint(f"/{API}/latency/{{host}}/history.json", "cdn", "free",
             "24 h of rounds per region and probe", (HOST,)),
    Endpoint(f"/{API}/rankings.json", "cdn", "free", "Per region, every target fastest first"),
    Endpoint(f"/{API}/rankings/{{slug}}.json", "cdn", "free", "Rankings within one category",
             (Param("slug", "path", "string", "a category slug, as in targets.json"),)),
    Endpoint(f"/{API}/badge/{{host}}.json", "cdn", "free",
             "shields.io endpoint badge (shields' own schema)", (HOST,), "Shields"),
    Endpoint("/metrics", "cdn", "free", "Prometheus text exposition (version 0.0.4)",
             schema="Text"),
    Endpoint(f"/{API}/targets", "proxy", "free", "Targets (as targets.json)"),
    Endpoint(f"/{API}/latency/{{host}}", "proxy", "free", "Latest figures (as latency/{host}.json)",
             (HOST,)),
    Endpoint(f"/{API}/latency/{{host}}/history", "proxy", "free",
             "History from rounds or hourly rollups; hours capped by tier (24, 720, 2160)",
             (HOST, Param("hours", "query", "integer", "hours back, 1..2160")),
             query_example="?hours=24"),
    Endpoint(f"/{API}/rankings", "proxy", "free", "Rankings, optionally of one category",
             (Param("category", "query", "string", "a category slug"),),
             query_example="?category={slug}"),
    Endpoint(f"/{API}/signals", "proxy", "pro", "Signals of the latest round"),
    Endpoint(f"/{API}/signals/history", "proxy", "pro", "Stored signals of the tier's window"),
    Endpoint(f"/{API}/routes/{{host}}", "proxy", "pro",
             "Current hop lists and route changes per region", (HOST,)),
    Endpoint(f"/{API}/compare", "proxy", "pro", "Side-by-side figures of several targets",
             (Param("targets", "query", "string", "comma-separated hosts"),),
             query_example="?targets={host},{host2}"),
    Endpoint(f"/{API}/export", "proxy", "enterprise", "Bulk export of results by UTC day",
             (Param("from", "query", "string", "first day, YYYY-MM-DD"),
              Param("to", "query", "string", "last day, YYYY-MM-DD"),
              Param("format", "query", "string", "file format", ("csv", "jsonl"))),
             "Text", "?from={day}&to={day}&format=csv"),
    Endpoint(f"/{API}/stream", "proxy", "enterprise",
             "WebSocket: each new round's figures and signals as JSON messages", schema="Text"),
)


def example_url(e: Endpoint, model: SiteModel) -> str:
    hosts = [t.host for t in model.targets] or ["example.com"]
    fill = {"host": hosts[0], "host2": hosts[min(1, len(hosts) - 1)],
            "slug": model.categories[0].slug if model.categories else "all",
            "day": "2026-01-01"}
    return (e.path + e.query_example).format(**fill)


def render_index(model: SiteModel) -> dict[str, bytes]:
    endpoints = []
    for e in ENDPOINTS:
        doc = {"path": e.path, "served_by": e.served_by, "tier": e.tier, "summary": e.summary,
               "example": example_url(e, model),
               "params": [{"name": p.name, "in": p.where, "type": p.kind, "description": p.text}
                          for p in e.params]}
        if e.served_by == "proxy":
            doc["auth"] = "Authorization: Bearer nt_..."
        endpoints.append(doc)
    doc = envelope("index", model.generated_at, tiers=TIERS, endpoints=endpoints,
                   openapi=f"/{API}/openapi.json")
    return {f"{API}/index.json": dump_json(doc)}

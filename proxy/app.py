"""The proxy's ASGI app: routes and error answers behind the edge (size limits and CORS)."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from api.openapi import openapi_document
from db.connection import connect
from proxy.access import Access, KeyBook
from proxy.alerts import Alerts
from proxy.api import Api
from proxy.delivery import DeliveryPolicy
from proxy.errors import ApiError, ProxyError
from proxy.export import Export
from proxy.files import FileCache
from proxy.guard import Edge
from proxy.limits import FailureLimiter
from proxy.quota import QuotaBook, hold_quota_lock
from proxy.site import Site
from proxy.stream import Stream, StreamHub

log = logging.getLogger("nettrace.proxy")


@dataclass(frozen=True, slots=True)
class ServeConfig:
    public_dir: Path
    private_dir: Path
    db_path: Path
    pepper: bytes
    clock: Callable[[], float]  # unix s; the CLI passes time.time, tests their own clock
    stream_poll_s: float = 1.0
    trust_fly_client_ip: bool = False  # the client address from Fly-Client-IP (behind Fly only)
    webhooks: DeliveryPolicy = DeliveryPolicy()


def _error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ApiError):
        status, body, headers = exc.status, exc.body(), exc.headers
    elif isinstance(exc, HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        status, body, headers = exc.status_code, {"error": code, "detail": exc.detail}, exc.headers
    else:
        log.exception("unexpected error on %s", request.url.path)
        status, body, headers = 500, {"error": "internal", "detail": "unexpected error"}, None
    return JSONResponse(body, status, {**(headers or {}), "cache-control": "no-store"})


def _routes(config: ServeConfig, access: Access, hub: StreamHub, files: FileCache) -> list:
    api = Api(config.public_dir, config.private_dir, files, access)
    export = Export(config.db_path, access)
    stream = Stream(hub, access)
    site = Site(config.public_dir, files, openapi_document(config.clock()))
    get = ["GET", "HEAD"]
    return [
        Route("/api/v1/", site.docs, methods=get),
        Route("/api/v1", site.docs, methods=get),
        Route("/api/v1/openapi.json", site.openapi, methods=get),
        Route("/api/v1/{rest:path}.json", site.json_file, methods=get),  # free CDN files first
        Route("/api/v1/targets", api.targets, methods=get),
        Route("/api/v1/latency/{host}", api.latency, methods=get),
        Route("/api/v1/latency/{host}/history", api.history, methods=get),
        Route("/api/v1/rankings", api.rankings, methods=get),
        Route("/api/v1/signals", api.signals, methods=get),
        Route("/api/v1/signals/history", api.signal_history, methods=get),
        Route("/api/v1/routes/{host}", api.routes, methods=get),
        Route("/api/v1/sessions/{host}", api.sessions, methods=get),
        Route("/api/v1/colocation", api.colocation, methods=get),
        Route("/api/v1/colocation/pairs", api.colocation_pairs, methods=get),  # before {host}
        Route("/api/v1/colocation/{host}", api.colocation_target, methods=get),
        Route("/api/v1/compare", api.compare, methods=get),
        Route("/api/v1/export", export.export, methods=get),
        Route("/api/v1/stream", stream.http, methods=get),
        WebSocketRoute("/api/v1/stream", stream.websocket),
        Route("/metrics", site.metrics, methods=get),
        Route("/widget/{rest:path}", site.widget, methods=get),
        Route("/{rest:path}", site.file, methods=get),
    ]


def create_app(config: ServeConfig):
    """The ASGI app over config's folders and database; ProxyError if a folder is missing or
    another proxy keeps this database's quotas."""
    for name, folder in (("public", config.public_dir), ("private", config.private_dir)):
        if not folder.is_dir():
            raise ProxyError(f"{name} folder {folder} does not exist (run `nettrace build` first)")
    lock = hold_quota_lock(config.db_path)
    writer = connect(config.db_path)
    reader = connect(config.db_path, readonly=True)
    quota = QuotaBook(writer, reader)
    access = Access(KeyBook(reader, config.pepper), quota, config.clock,
                    FailureLimiter(config.trust_fly_client_ip))
    hub = StreamHub(reader, config.stream_poll_s)
    alerts = Alerts(config.db_path, config.public_dir, config.pepper, config.webhooks, access,
                    reader, config.clock)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        alerts.start()
        try:
            yield
        finally:
            await alerts.stop()
            await hub.stop()
            reader.close()
            writer.close()
            lock.close()

    routes = alerts.routes + _routes(config, access, hub, FileCache())
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={Exception: _error, HTTPException: _error, ApiError: _error})
    return Edge(FastLane(app, routes))


class FastLane:
    """GET/HEAD of the fixed paths (/api/v1/targets, /metrics, ...) found by one dict lookup
    ahead of Starlette's middleware and regex router, which cost as much as the handler itself;
    the same handlers and error answers, and everything else goes to Starlette."""

    def __init__(self, app: Starlette, routes: list):
        self.app = app
        self._exact = {r.path: r.endpoint for r in routes
                       if isinstance(r, Route) and "{" not in r.path and "GET" in r.methods}

    async def __call__(self, scope, receive, send):
        handler = self._exact.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None or scope["method"] not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except Exception as exc:  # noqa: BLE001 - answered like Starlette's handlers answer it
            response = _error(request, exc)
        await response(scope, receive, send)

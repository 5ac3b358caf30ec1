"""/api/v1/webhooks (Pro and above): register, list and remove webhooks and list their
deliveries; the delivery worker (proxy/delivery.py) sends them."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.contract import (EVENT_TYPES, MAX_WEBHOOK_CATEGORIES, MAX_WEBHOOK_TARGETS,
                          MAX_WEBHOOKS_PER_KEY, SEVERITIES, WEBHOOK_FORMATS, WEBHOOK_ID_PATTERN,
                          WEBHOOKS)
from collect.records import iso_utc
from collect.targets import category_slug
from proxy import webhook_store as store
from proxy.access import Access
from proxy.delivery import DeliveryPolicy, DeliveryWorker
from proxy.errors import ApiError
from proxy.files import FileCache
from proxy.keys import KeyRow
from proxy.ssrf import TargetPolicy, UnsafeTarget, check_url, resolve_checked
from proxy.webhook_store import Filters, Store, Webhook, WebhookLimit

MAX_BODY_BYTES = 64 * 1024  # above the largest body the contract's limits allow
MAX_FILTER_ITEMS = {"types": len(EVENT_TYPES), "targets": MAX_WEBHOOK_TARGETS,
                    "categories": MAX_WEBHOOK_CATEGORIES}
_FIELDS = {"url", "types", "targets", "categories", "min_severity", "in_session", "format"}
_NO_STORE = {"cache-control": "no-store"}


class Catalog:
    """Hosts and categories of the latest build (public/api/v1/targets.json), re-read when the
    build replaces the file."""

    def __init__(self, public_dir: Path, files: FileCache):
        self._public = public_dir
        self._files = files
        self._etag = ""
        self._hosts: frozenset[str] = frozenset()
        self._categories: dict[str, frozenset[str]] = {}  # slug -> hosts

    def _load(self) -> None:
        blob = self._files.get(self._public, "api/v1/targets.json")
        if blob is None or blob.etag == self._etag:
            return
        try:
            doc = json.loads(blob.body)
            hosts = frozenset(t["host"] for t in doc.get("targets", []))
            categories = {c["slug"]: frozenset(c["hosts"]) for c in doc.get("categories", [])}
        except (ValueError, KeyError, TypeError):
            return  # a broken file: keep what the last good one said
        self._etag, self._hosts, self._categories = blob.etag, hosts, categories

    def hosts(self) -> frozenset[str]:
        self._load()
        return self._hosts

    def hosts_of(self, slug: str) -> frozenset[str]:
        self._load()
        return self._categories.get(slug, frozenset())

    def slugs(self) -> frozenset[str]:
        self._load()
        return frozenset(self._categories)


def webhook_doc(hook: Webhook, queued: int) -> dict:
    f = hook.filters
    return {"id": hook.id, "url": hook.url, "types": list(f.types), "targets": list(f.targets),
            "categories": list(f.categories), "min_severity": f.min_severity,
            "in_session": f.in_session, "format": hook.format,
            "created_at": iso_utc(int(hook.created_at)),
            "status": "active" if hook.disabled_at is None else "disabled",
            "disabled_at": None if hook.disabled_at is None else iso_utc(int(hook.disabled_at)),
            "disabled_reason": hook.disabled_reason, "consecutive_failures": hook.failures,
            "queued": queued}


def _bad(detail: str) -> ApiError:
    return ApiError(400, "bad_webhook", detail)


def _strings(doc: dict, name: str) -> tuple[str, ...]:
    value = doc.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"{name} must be a list of strings")
    if len(value) > MAX_FILTER_ITEMS[name]:
        raise _bad(f"{name} holds at most {MAX_FILTER_ITEMS[name]} items")
    return tuple(dict.fromkeys(value))


def parse_request(doc: object, catalog: Catalog) -> tuple[str, str, Filters]:
    """(url, format, filters) of a registration body; ApiError 400 naming the bad field."""
    if not isinstance(doc, dict):
        raise _bad("the body must be a JSON object")
    unknown = sorted(set(doc) - _FIELDS)
    if unknown:
        raise _bad(f"unknown field {unknown[0]!r} (known: {', '.join(sorted(_FIELDS))})")
    url = doc.get("url")
    if not isinstance(url, str):
        raise _bad("url is required: an https URL")
    types = _strings(doc, "types")
    if bad := [t for t in types if t not in EVENT_TYPES]:
        raise _bad(f"types: unknown type {bad[0]!r} (known: {', '.join(EVENT_TYPES)})")
    targets = tuple(t.lower() for t in _strings(doc, "targets"))
    if bad := [t for t in targets if t not in catalog.hosts()]:
        raise _bad(f"targets: no target {bad[0]!r}")
    categories = tuple(category_slug(c) for c in _strings(doc, "categories"))
    if bad := [c for c in categories if c not in catalog.slugs()]:
        raise _bad(f"categories: no category {bad[0]!r}")
    severity = doc.get("min_severity", SEVERITIES[0])
    if severity not in SEVERITIES:
        raise _bad(f"min_severity must be one of {', '.join(SEVERITIES)}")
    in_session = doc.get("in_session")
    if in_session not in (None, True, False):
        raise _bad("in_session must be true, false or null")
    fmt = doc.get("format", "json")
    if fmt not in WEBHOOK_FORMATS:
        raise _bad(f"format must be one of {', '.join(WEBHOOK_FORMATS)}")
    return url, fmt, Filters(types, targets, categories, severity, in_session)


async def read_json(request: Request) -> object:
    """The request's JSON body; ApiError 413 past MAX_BODY_BYTES, 400 when it is not JSON."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        raise _bad("the body is not JSON") from None


class Webhooks:
    def __init__(self, db: Store, access: Access, catalog: Catalog, policy: DeliveryPolicy,
                 worker: DeliveryWorker, pepper: bytes, clock: Callable[[], float]):
        self._db = db
        self._access = access
        self._catalog = catalog
        self._target_policy = TargetPolicy(policy.allow_local)
        self._worker = worker
        self._pepper = pepper
        self._clock = clock

    def routes(self) -> list[Route]:
        base = "/api/v1/webhooks"
        return [Route(base, self.collection, methods=["GET", "HEAD", "POST"]),  # one Allow
                Route(base + "/{webhook_id}", self.delete, methods=["DELETE"]),
                Route(base + "/{webhook_id}/deliveries", self.deliveries, methods=["GET", "HEAD"])]

    async def _charge(self, row: KeyRow) -> tuple[list[int], dict[str, str]]:
        """The call counted; the ids of the keys whose webhooks are row's, and quota headers."""
        headers = await self._access.charge(row)
        return await self._db.run(store.owned_key_ids, row.id) or [row.id], headers

    async def _caller(self, request: Request) -> tuple[list[int], dict[str, str], str]:
        row = self._access.authenticate(request, WEBHOOKS)
        hook_id = _hook_id(request) if "webhook_id" in request.path_params else ""
        return *await self._charge(row), hook_id

    async def collection(self, request: Request) -> Response:
        return await (self.create if request.method == "POST" else self.list)(request)

    async def create(self, request: Request) -> Response:
        row = self._access.authenticate(request, WEBHOOKS)
        url, fmt, filters = parse_request(await read_json(request), self._catalog)
        key_ids, headers = await self._charge(row)
        try:
            _, host, port = check_url(url, self._target_policy)
            await resolve_checked(host, port, self._target_policy)
        except UnsafeTarget as exc:
            raise ApiError(400, "unsafe_url", f"url refused: {exc}") from None
        try:
            hook = await self._db.run(store.insert_webhook, row.id, key_ids, url, fmt, filters,
                                      self._clock())
        except WebhookLimit as exc:
            raise ApiError(409, "too_many_webhooks", f"{exc} ({MAX_WEBHOOKS_PER_KEY}); remove "
                           "one with DELETE /api/v1/webhooks/{id}") from None
        self._worker.changed()
        doc = webhook_doc(hook, 1) | {"secret": store.signing_secret(self._pepper, hook.salt)}
        return JSONResponse(doc, 201, headers | _NO_STORE)

    async def list(self, request: Request) -> Response:
        key_ids, headers, _ = await self._caller(request)
        hooks = await self._db.run(store.webhooks_of, key_ids)
        doc = {"schema": "nettrace.webhooks/1", "generated_at": iso_utc(int(self._clock())),
               "webhooks": [webhook_doc(h, n) for h, n in hooks]}
        return JSONResponse(doc, 200, headers | _NO_STORE)

    async def delete(self, request: Request) -> Response:
        key_ids, headers, hook_id = await self._caller(request)
        if not await self._db.run(store.delete_webhook, key_ids, hook_id):
            raise ApiError(404, "unknown_webhook", f"this key has no webhook {hook_id}")
        self._worker.changed()
        return Response(status_code=204, headers=headers | _NO_STORE)

    async def deliveries(self, request: Request) -> Response:
        key_ids, headers, hook_id = await self._caller(request)
        rows = await self._db.run(store.attempts_of, key_ids, hook_id)
        if rows is None:
            raise ApiError(404, "unknown_webhook", f"this key has no webhook {hook_id}")
        attempts = [{"delivery_id": d, "attempt": n, "at": iso_utc(round(at, 3)), "status": s,
                     "error": e, "latency_ms": ms, "outcome": o}
                    for d, n, at, s, e, ms, o in rows]
        doc = {"schema": "nettrace.webhook-deliveries/1",
               "generated_at": iso_utc(int(self._clock())), "webhook_id": hook_id,
               "attempts": attempts}
        return JSONResponse(doc, 200, headers | _NO_STORE)


def _hook_id(request: Request) -> str:
    hook_id = request.path_params["webhook_id"]
    if not re.fullmatch(WEBHOOK_ID_PATTERN, hook_id):
        raise ApiError(404, "unknown_webhook", "not a webhook id (wh_ and 20 letters or digits)")
    return hook_id

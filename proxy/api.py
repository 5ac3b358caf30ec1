"""The keyed JSON endpoints: files of the build, cut by the key's tier where it must be."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from api.contract import (COMPARE, HOUR_S, LATENCY, MAX_HISTORY_HOURS, RANKINGS, ROUTES,
                          SIGNALS, TIERS)
from collect.targets import category_slug
from proxy import params
from proxy.access import Access
from proxy.errors import ApiError
from proxy.files import Blob, FileCache, blob_response
from proxy.keys import KeyRow
from proxy.window import cut_since, pick_targets, reference_s

KEYED_CACHE = "private, max-age=60"
MAX_CUTS = 512
# The shortest file holding a window of at most this many hours: (hours, in private?, name).
HISTORY_FILES = ((24, False, "history.json"), (30 * 24, True, "history-30d.json"),
                 (90 * 24, True, "history-90d.json"))


class Api:
    def __init__(self, public_dir: Path, private_dir: Path, files: FileCache, access: Access):
        self._roots = {False: public_dir, True: private_dir}
        self._files = files
        self._access = access
        self._cuts: dict[tuple, Blob] = {}

    def _file(self, private: bool, rel: str, code: str, detail: str) -> Blob:
        blob = self._files.get(self._roots[private], rel)
        if blob is None:
            raise ApiError(404, code, detail)
        return blob

    def _target(self, request: Request) -> str:
        host = params.host(request.path_params["host"])
        self._file(False, f"api/v1/latency/{host}.json", "unknown_target", f"no target {host}")
        return host

    async def _answer(self, request: Request, row: KeyRow, blob: Blob,
                      extra: dict[str, str] | None = None,
                      cut: Callable[[Blob], Blob] | None = None) -> Response:
        """Charge the call, and only once it is admitted cut blob (the costly part) and answer."""
        headers = await self._access.charge(row)
        if cut is not None:
            blob = cut(blob)
        return blob_response(request, blob, KEYED_CACHE, headers | (extra or {}))

    def _cut(self, blob: Blob, how: tuple, fn) -> Blob:
        """fn(parsed JSON) re-serialized, remembered per (file version, how)."""
        k = (blob.etag, how)
        if k not in self._cuts:
            if len(self._cuts) >= MAX_CUTS:
                self._cuts.clear()
            doc = fn(json.loads(blob.body))
            self._cuts[k] = Blob.of(json.dumps(doc, separators=(",", ":")).encode(), blob.content_type)
        return self._cuts[k]

    def _window(self, blob: Blob, hours: int) -> Blob:
        def cut(doc):
            end_s = reference_s(doc) or self._access.now_s()
            return cut_since(doc, end_s - hours * HOUR_S)
        return self._cut(blob, ("hours", hours), cut)

    async def targets(self, request: Request) -> Response:
        row = self._access.authenticate(request, LATENCY)
        return await self._answer(request, row, self._file(False, "api/v1/targets.json",
                                                           "no_data", "no targets.json built yet"))

    async def latency(self, request: Request) -> Response:
        row = self._access.authenticate(request, LATENCY)
        host = self._target(request)
        return await self._answer(request, row, self._file(False, f"api/v1/latency/{host}.json",
                                                           "unknown_target", f"no target {host}"))

    async def history(self, request: Request) -> Response:
        """?hours= (default and cap: the tier's history) from the shortest file that holds it."""
        row = self._access.authenticate(request, LATENCY)
        host = self._target(request)
        tier_hours = TIERS[row.tier].history_hours
        hours = min(params.integer(request, "hours", tier_hours, 1, MAX_HISTORY_HOURS), tier_hours)
        span, private, name = next(f for f in HISTORY_FILES if f[0] >= hours)
        blob = self._file(private, f"api/v1/latency/{host}/{name}", "no_data",
                          f"no {span} h history of {host} built yet")
        return await self._answer(request, row, blob, {"x-nettrace-window-hours": str(hours)},
                                  (lambda b: self._window(b, hours)) if hours < span else None)

    async def rankings(self, request: Request) -> Response:
        row = self._access.authenticate(request, RANKINGS)
        category = params.text(request, "category")
        if category is None:
            blob = self._file(False, "api/v1/rankings.json", "no_data", "no rankings built yet")
        else:
            slug = category_slug(category)
            blob = self._file(False, f"api/v1/rankings/{slug or '-'}.json", "unknown_category",
                              f"no category {category!r}")
        return await self._answer(request, row, blob)

    async def signals(self, request: Request) -> Response:
        row = self._access.authenticate(request, SIGNALS)
        blob = self._file(True, "api/v1/signals.json", "no_data", "no signals built yet")
        return await self._answer(request, row, blob)

    async def signal_history(self, request: Request) -> Response:
        row = self._access.authenticate(request, SIGNALS)
        blob = self._file(True, "api/v1/signals/history.json", "no_data", "no signal history yet")
        hours = TIERS[row.tier].history_hours
        return await self._answer(request, row, blob, {"x-nettrace-window-hours": str(hours)},
                                  lambda b: self._window(b, hours))

    async def routes(self, request: Request) -> Response:
        row = self._access.authenticate(request, ROUTES)
        host = self._target(request)
        blob = self._file(True, f"api/v1/routes/{host}.json", "no_data", f"no routes of {host} yet")
        return await self._answer(request, row, blob)

    async def compare(self, request: Request) -> Response:
        row = self._access.authenticate(request, COMPARE)
        hosts = params.host_list(request, "targets")
        for host in hosts:
            self._file(False, f"api/v1/latency/{host}.json", "unknown_target", f"no target {host}")
        blob = self._file(True, "api/v1/compare.json", "no_data", "no comparison built yet")
        chosen = frozenset(hosts)
        return await self._answer(request, row, blob, cut=lambda b: self._cut(
            b, ("targets", chosen), lambda doc: pick_targets(doc, chosen)))

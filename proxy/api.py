"""The keyed JSON endpoints: files of the build, cut by the key's tier (and the signals by
?in_session=) where they must be."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from api.contract import (COLOCATION, COMPARE, HOUR_S, LATENCY, MAX_HISTORY_HOURS, RANKINGS,
                          ROUTES, SESSIONS, SIGNALS, TIERS)
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

    async def _target_file(self, request: Request, feature: str, folder: str,
                           what: str) -> Response:
        """A target's private file api/v1/{folder}/{host}.json, to a key with feature."""
        row = self._access.authenticate(request, feature)
        host = self._target(request)
        blob = self._file(True, f"api/v1/{folder}/{host}.json", "no_data",
                          f"no {what} of {host} yet")
        return await self._answer(request, row, blob)

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

    def _category_file(self, request: Request, private: bool, whole: str, folder: str) -> Blob:
        """whole without ?category=, else folder/{slug}.json (404 unknown_category)."""
        category = params.text(request, "category")
        if category is None:
            return self._file(private, whole, "no_data", f"no {whole} built yet")
        slug = category_slug(category)
        return self._file(private, f"{folder}/{slug or '-'}.json", "unknown_category",
                          f"no category {category!r}")

    async def rankings(self, request: Request) -> Response:
        row = self._access.authenticate(request, RANKINGS)
        blob = self._category_file(request, False, "api/v1/rankings.json", "api/v1/rankings")
        return await self._answer(request, row, blob)

    async def signals(self, request: Request) -> Response:
        row = self._access.authenticate(request, SIGNALS)
        in_session = params.flag(request, "in_session")
        blob = self._file(True, "api/v1/signals.json", "no_data", "no signals built yet")
        return await self._answer(request, row, blob, cut=None if in_session is None else (
            lambda b: self._cut(b, ("in_session", in_session),
                                lambda doc: _in_session(doc, in_session))))

    async def signal_history(self, request: Request) -> Response:
        row = self._access.authenticate(request, SIGNALS)
        in_session = params.flag(request, "in_session")
        blob = self._file(True, "api/v1/signals/history.json", "no_data", "no signal history yet")
        hours = TIERS[row.tier].history_hours

        def cut(b: Blob) -> Blob:
            b = self._window(b, hours)
            return b if in_session is None else self._cut(
                b, ("in_session", in_session), lambda doc: _in_session(doc, in_session))
        return await self._answer(request, row, blob, {"x-nettrace-window-hours": str(hours)},
                                  cut)

    async def sessions(self, request: Request) -> Response:
        return await self._target_file(request, SESSIONS, "sessions", "session figures")

    async def colocation(self, request: Request) -> Response:
        """Every target's best region: the free file."""
        row = self._access.authenticate(request, LATENCY)
        blob = self._file(False, "api/v1/colocation.json", "no_data", "no colocation built yet")
        return await self._answer(request, row, blob)

    async def colocation_target(self, request: Request) -> Response:
        return await self._target_file(request, COLOCATION, "colocation", "colocation")

    async def colocation_pairs(self, request: Request) -> Response:
        row = self._access.authenticate(request, COLOCATION)
        blob = self._category_file(request, True, "api/v1/colocation/pairs.json",
                                   "api/v1/colocation/pairs")
        return await self._answer(request, row, blob)

    async def routes(self, request: Request) -> Response:
        return await self._target_file(request, ROUTES, "routes", "routes")

    async def compare(self, request: Request) -> Response:
        row = self._access.authenticate(request, COMPARE)
        hosts = params.host_list(request, "targets")
        for host in hosts:
            self._file(False, f"api/v1/latency/{host}.json", "unknown_target", f"no target {host}")
        blob = self._file(True, "api/v1/compare.json", "no_data", "no comparison built yet")
        chosen = frozenset(hosts)
        return await self._answer(request, row, blob, cut=lambda b: self._cut(
            b, ("targets", chosen), lambda doc: pick_targets(doc, chosen)))


def _in_session(doc: dict, in_session: bool) -> dict:
    """doc with only the signal events that opened in (True) or out of (False) a session."""
    return {**doc, "signals": [e for e in doc.get("signals", [])
                               if isinstance(e, dict) and bool(e.get("in_session")) == in_session]}

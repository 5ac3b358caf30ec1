"""The free half for a single-machine deployment: all of public/ (pages, docs, the CDN's JSON
files, badges, metrics, assets) at its own paths, no key needed, as a CDN would serve it.
private/ is only ever reached through the keyed API routes."""
from __future__ import annotations

import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from proxy import params
from proxy.errors import ApiError
from proxy.files import Blob, FileCache, blob_response, safe_relpath

PUBLIC_CACHE = "public, max-age=60"
BADGE_SUFFIXES = (".svg", ".png")


class Site:
    def __init__(self, public_dir: Path, files: FileCache, spec: dict):
        self._public = public_dir
        self._files = files
        self._spec = Blob.of(json.dumps(spec, indent=1).encode(), "application/json")

    def _serve(self, request: Request, rel: str) -> Response:
        blob = self._files.get(self._public, rel)
        if blob is None:
            raise ApiError(404, "not_found", f"no file /{rel}")
        return blob_response(request, blob, PUBLIC_CACHE)

    async def docs(self, request: Request) -> Response:
        return self._serve(request, "api/v1/index.json")

    async def openapi(self, request: Request) -> Response:
        """The build's spec when it wrote one, else the proxy's own."""
        blob = self._files.get(self._public, "api/v1/openapi.json") or self._spec
        return blob_response(request, blob, PUBLIC_CACHE)

    async def metrics(self, request: Request) -> Response:
        return self._serve(request, "metrics")

    async def widget(self, request: Request) -> Response:
        """/widget/{host} and /widget/{host}/{region} are the .svg badges; .svg/.png as named."""
        *host, last = request.path_params["rest"].split("/")
        stem, suffix = next(((last[:-len(s)], s) for s in BADGE_SUFFIXES if last.endswith(s)),
                            (last, ".svg"))
        if len(host) > 1:
            raise ApiError(404, "not_found", "badges are /widget/{host} or /widget/{host}/{region}")
        if host:
            rel = f"{params.host(host[0])}/{safe_relpath(stem)}"
        else:
            rel = params.host(stem)
        return self._serve(request, f"widget/{rel}{suffix}")

    async def file(self, request: Request) -> Response:
        path = request.path_params["rest"]
        return self._serve(request, safe_relpath(path) if path.strip("/") else "index.html")

    async def json_file(self, request: Request) -> Response:
        """A CDN path such as api/v1/latency/{host}.json, which a keyed route would take for a host."""
        return self._serve(request, safe_relpath(f"api/v1/{request.path_params['rest']}.json"))

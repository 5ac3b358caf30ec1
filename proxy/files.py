"""Files of public/ and private/: safe paths, an in-memory cache, ETags and gzip/br.

A URL path becomes a file only through safe_relpath (plain segments, no dot-first segment, no
backslash, NUL or percent sign) and only if its real path stays inside its root.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import brotli
from starlette.requests import Request
from starlette.responses import Response

from proxy.errors import ApiError

_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")
MAX_SEGMENTS = 12
MAX_CACHED_FILES = 4096
MIN_COMPRESS_BYTES = 512
GZIP_LEVEL = 6
BROTLI_QUALITY = 5  # q11 costs seconds per MB; 5 is most of the gain
CONTENT_TYPES = {
    ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png",
    ".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8", ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8", ".jsonl": "application/x-ndjson",
    ".xml": "application/xml", ".ico": "image/x-icon", ".woff2": "font/woff2",
    ".gz": "application/gzip", ".webmanifest": "application/manifest+json",
    ".atom": "application/atom+xml",
}
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_COMPRESSIBLE = ("application/json", "image/svg+xml", "text/", "application/x-ndjson",
                 "application/xml", "application/manifest+json", "application/atom+xml")


def safe_relpath(url_path: str) -> str:
    """url_path (already percent-decoded once) as a relative path; ApiError 400 if unsafe."""
    parts = url_path.strip("/").split("/")
    if len(parts) > MAX_SEGMENTS or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise ApiError(400, "bad_path", "path segments may hold only letters, digits, '.', '_' "
                       "and '-', and may not start with '.'")
    return "/".join(parts)


def content_type(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    if name == "metrics":
        return PROMETHEUS_TYPE
    return CONTENT_TYPES.get(os.path.splitext(name)[1], "application/octet-stream")


@dataclass(frozen=True, slots=True)
class Blob:
    """One answer body with its strong ETag; compressed forms are made once, when first asked."""

    body: bytes
    content_type: str
    etag: str
    _encoded: dict[str, bytes] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, body: bytes, content_type: str) -> Blob:
        return cls(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    def encoded(self, encoding: str | None) -> bytes:
        if encoding is None:
            return self.body
        if encoding not in self._encoded:
            self._encoded[encoding] = (brotli.compress(self.body, quality=BROTLI_QUALITY)
                                       if encoding == "br" else
                                       gzip.compress(self.body, GZIP_LEVEL, mtime=0))
        return self._encoded[encoding]

    def etag_for(self, encoding: str | None) -> str:
        return self.etag if encoding is None else f'{self.etag[:-1]}-{encoding}"'

    @property
    def compressible(self) -> bool:
        return len(self.body) >= MIN_COMPRESS_BYTES and self.content_type.startswith(_COMPRESSIBLE)


class FileCache:
    """Blobs by path, reloaded when a file's inode, size or mtime changes (the build swaps
    folders atomically, so a changed file is a new inode)."""

    def __init__(self) -> None:
        self._blobs: dict[str, tuple[tuple[int, int, int], Blob]] = {}

    def get(self, root: Path, rel: str) -> Blob | None:
        """The file rel under root (a folder's index.html), or None if absent or outside root."""
        path = f"{root}/{rel}"  # rel passed safe_relpath; plain strings keep this path cheap
        try:
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode):
                path += "/index.html"
                st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        hit = self._blobs.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        return self._load(root, path, stamp)

    def _load(self, root: Path, path: str, stamp: tuple[int, int, int]) -> Blob | None:
        real = os.path.realpath(path)
        if os.path.commonpath([real, os.path.realpath(root)]) != os.path.realpath(root):
            return None  # a symlink leading out of the served folder
        try:
            body = Path(real).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None
        if len(self._blobs) >= MAX_CACHED_FILES:
            self._blobs.clear()
        blob = Blob.of(body, content_type(path))
        self._blobs[path] = (stamp, blob)
        return blob


def pick_encoding(accept_encoding: str) -> str | None:
    """br, then gzip, when the client accepts it with a non-zero q."""
    if not accept_encoding:
        return None
    accepted = set()
    for item in accept_encoding.lower().split(","):
        name, _, params = item.strip().partition(";")
        if params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            accepted.add(name.strip())
    return next((e for e in ("br", "gzip") if e in accepted), None)


def _matches(if_none_match: str, blob: Blob) -> bool:
    """Weak comparison (RFC 9110 13.1.2) against any encoding of the same body."""
    valid = {blob.etag, blob.etag_for("gzip"), blob.etag_for("br")}
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or not tags.isdisjoint(valid)


def blob_response(request: Request, blob: Blob, cache_control: str,
                  headers: dict[str, str] | None = None) -> Response:
    """200 with the best encoding the client accepts, or 304 when its ETag still matches."""
    req_headers = dict(request.scope["headers"])  # one pass; Starlette's Headers.get scans per call
    encoding = (pick_encoding(req_headers.get(b"accept-encoding", b"").decode("latin-1"))
                if blob.compressible else None)
    out = [(b"etag", blob.etag_for(encoding).encode()), (b"cache-control", cache_control.encode()),
           (b"vary", b"Accept-Encoding, Authorization")]
    out += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    inm = req_headers.get(b"if-none-match")
    if inm is not None and _matches(inm.decode("latin-1"), blob):
        return RawResponse(304, out, b"")
    body = blob.encoded(encoding)
    if encoding is not None:
        out.append((b"content-encoding", encoding.encode()))
    out += [(b"content-type", blob.content_type.encode()), (b"content-length", str(len(body)).encode())]
    return RawResponse(200, out, b"" if request.method == "HEAD" else body)


class RawResponse(Response):
    """A Response whose headers arrive encoded: Starlette's header building is the slowest part
    of answering from the cache."""

    def __init__(self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes):
        self.status_code = status
        self.raw_headers = raw_headers
        self.body = body
        self.background = None

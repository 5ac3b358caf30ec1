"""Reuse of expensive outputs between builds: a manifest maps each cached output path to the
digest of its inputs; a hit points at the file the previous build wrote into public/ or private/.
A missing, corrupt or older-version manifest just means a full build. The previous tree must
stay in place until the writer has linked what it reuses (write_tree swaps it out last)."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from build.write import Output, Reused

CACHE_VERSION = 1  # bump when a cached renderer's output format changes
MANIFEST = "manifest.json"


def digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


class OutputCache:
    """get_or_render(area, path, key, render) -> bytes, remembering key for the next build."""

    def __init__(self, cache_dir: Path | None, roots: dict[str, Path]):
        self._dir = cache_dir
        self._roots = roots
        self._old: dict[str, str] = {}
        self._new: dict[str, str] = {}
        self.previous_duration_s: float | None = None
        self.hits = 0
        if cache_dir is not None:
            self._load(Path(cache_dir) / MANIFEST)

    def _load(self, path: Path) -> None:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        if isinstance(doc, dict) and doc.get("version") == CACHE_VERSION:
            self._old = dict(doc.get("entries", {}))
            self.previous_duration_s = doc.get("build_duration_s")

    def get_or_render(self, area: str, path: str, key: str,
                      render: Callable[[], bytes]) -> Output:
        return self.get_or_render_many(area, (path,), key, lambda: {path: render()})[path]

    def get_or_render_many(self, area: str, paths: tuple[str, ...], key: str,
                           render: Callable[[], dict[str, bytes]]) -> dict[str, Output]:
        """Outputs made by one render call, reused only all together: a hit points at the
        previous build's files (the writer hard-links them)."""
        reused = self.lookup(area, paths, key)
        return render() if reused is None else reused

    def lookup(self, area: str, paths: tuple[str, ...], key: str) -> dict[str, Reused] | None:
        """The previous build's files of paths if they were made from key, else None (the
        caller renders them); either way key is remembered for paths."""
        for path in paths:
            self._new[f"{area}:{path}"] = key
        old = [self._roots[area] / p for p in paths]
        if all(self._old.get(f"{area}:{p}") == key for p in paths) and all(
                o.is_file() for o in old):
            self.hits += len(paths)
            return {p: Reused(o) for p, o in zip(paths, old)}
        return None

    def previous_file(self, area: str, path: str) -> Path:
        """Where the previous build wrote area's path (the file may not be there)."""
        return self._roots[area] / path

    def save(self) -> None:
        """Record this build's keys (call after the outputs are in place)."""
        if self._dir is not None:
            _write_manifest(Path(self._dir), {"version": CACHE_VERSION, "entries": self._new})


def record_build_duration(cache_dir: Path, seconds: float) -> None:
    """Remember how long the build took, for the next build's metrics."""
    try:
        doc = json.loads((Path(cache_dir) / MANIFEST).read_text())
    except (OSError, ValueError):
        return
    doc["build_duration_s"] = round(seconds, 3)
    _write_manifest(Path(cache_dir), doc)


def _write_manifest(cache_dir: Path, doc: dict) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{MANIFEST}.{os.getpid()}"
    tmp.write_text(json.dumps(doc, sort_keys=True))
    os.replace(tmp, cache_dir / MANIFEST)

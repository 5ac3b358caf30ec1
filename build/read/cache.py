"""Reuse of expensive outputs between builds: the state's "outputs" part maps each cached
output path to the digest of its inputs; a hit points at the file the previous build wrote into
public/ or private/. No state just means a full build. The previous tree must stay in place
until the writer has linked what it reuses (write_tree swaps it out last)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from build.read.state import Part
from build.write import Output, Reused

CACHE_VERSION = 1  # bump when a cached renderer's output format changes


def digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


class OutputCache:
    """lookup(area, paths, key): the previous build's files made from key, remembering key
    for the next build."""

    def __init__(self, carried: Part | None, roots: dict[str, Path]):
        self._roots = roots
        old = {} if carried is None else carried.meta
        self._old: dict[str, str] = dict(old.get("entries", {})) if old.get(
            "version") == CACHE_VERSION else {}
        self._new: dict[str, str] = {}
        self.hits = 0

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

    def part(self) -> Part:
        """This build's keys, for the state the write stage saves after the outputs."""
        return Part({"version": CACHE_VERSION, "entries": self._new})

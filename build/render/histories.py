"""The 30- and 90-day history outputs of a build, one target at a time (build/read/
long_history.py hands them over): reused whole when nothing changed, slid on by new hours from
the previous files, or computed from the target's rollups. Each target's files are Deferred:
rendered when the writer reaches them, so one target's text is in memory at a time."""
from __future__ import annotations

from collections.abc import Callable

from build.read.cache import CACHE_VERSION, OutputCache, digest
from build.read.long_history import PRUNE_CHECK_HOURS, LongHistoryInput, TargetHistory
from build.read.state import Part
from build.render.long_history import (HistoryText, compute_history_text, count_first_hours,
                                       history_paths, render_history_files, slide_history_text)
from build.write import Deferred, Output


def render_long_histories(inp: LongHistoryInput, cache: OutputCache,
                          rowid: int) -> tuple[dict[str, Output], Part]:
    """Every target's history files, and the history part of the state (rowid: the
    checkpoint's, which keys outputs made from the database)."""
    outputs: dict[str, Output] = {}
    entries = {}
    for t in inp.targets:
        paths = history_paths(t.host)
        if t.same_hour and t.previous and t.previous["first"] == t.first:
            key = t.previous["key"]
            text = (lambda t=t: t.load_previous(inp.end_hour)
                    or compute_history_text(t.read_all(), inp.end_hour))
        else:  # a text made here has t.first rollups in its first hours (a slid one is checked)
            key = digest(CACHE_VERSION, t.host, inp.end_hour, rowid)
            text = (lambda t=t: _slid(t, inp) or compute_history_text(t.read_all(),
                                                                       inp.end_hour))
        outputs |= cache.lookup("private", paths, key) or _deferred(t.host, paths, text)
        entries[t.host] = {"key": key, "first": t.first}
    return outputs, Part({"end_hour": inp.end_hour, "targets": entries, "pending": inp.pending})


def _deferred(host: str, paths: tuple[str, ...],
              text: Callable[[], HistoryText]) -> dict[str, Deferred]:
    """host's files, rendered together when the writer reaches the first of them."""
    files: dict[str, bytes] = {}

    def take(path: str) -> bytes:
        if not files:
            files.update(render_history_files(host, text()))
        return files.pop(path)

    return {path: Deferred(lambda path=path: take(path)) for path in paths}


def _slid(t: TargetHistory, inp: LongHistoryInput) -> HistoryText | None:
    """The previous columns moved on by the new hours, unless retention pruned the window's
    first hours since (then the target is computed)."""
    if t.previous is None or inp.previous_end_hour is None or t.same_hour:
        return None
    old = t.load_previous(inp.previous_end_hour)
    if old is None:
        return None
    text = slide_history_text(old, t.fresh, inp.end_hour)
    return text if count_first_hours(text, PRUNE_CHECK_HOURS) == t.first else None

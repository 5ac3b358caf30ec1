"""One forked worker process renders the slow CPU-bound parts (HTML pages with their charts,
PNG badges and social cards; the public JSON when it has no PNG to draw) while the build renders
the rest. The worker inherits the model by fork, so it is never pickled; only bytes come back.
The output cache stays in the parent, which sends only the PNGs it cannot reuse
(build/pipeline.py)."""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context

from build.compute.model import SiteModel
from build.render.html import render_html
from build.render.json_api import render_public_json

_MODEL: SiteModel | None = None  # what the forked worker renders; set only around the fork


@contextmanager
def forked_worker(model: SiteModel) -> Iterator[ProcessPoolExecutor]:
    """A one-process pool forked (at its first submit) with model in reach."""
    global _MODEL
    _MODEL = model
    try:
        with ProcessPoolExecutor(1, mp_context=get_context("fork")) as pool:
            yield pool
    finally:
        _MODEL = None


@contextmanager
def png_drawer() -> Iterator[ProcessPoolExecutor]:
    """A one-process pool for PNGs, forked at once (before the model exists) to import cairosvg
    (~0.4 s) while the build reads the database, so drawing starts as soon as SVGs are ready and
    runs beside the pages."""
    with ProcessPoolExecutor(1, mp_context=get_context("fork")) as pool:
        pool.submit(_import_cairosvg)
        yield pool


def _import_cairosvg() -> None:
    import cairosvg  # noqa: F401  (here: only the drawing process needs it)


def submit_pages(pool: ProcessPoolExecutor) -> Future:
    """render_html's outputs but the social cards (the pipeline reuses or draws those)."""
    return pool.submit(_pages)


def submit_public_json(pool: ProcessPoolExecutor) -> Future:
    """render_public_json's outputs, for a build whose worker has no PNG to draw."""
    return pool.submit(_public_json)


def _public_json() -> dict[str, bytes]:
    assert _MODEL is not None, "the worker was not forked by forked_worker"
    return render_public_json(_MODEL)


def _pages() -> dict[str, bytes]:
    assert _MODEL is not None, "the worker was not forked by forked_worker"
    return render_html(_MODEL)

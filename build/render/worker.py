"""The PNG drawing process (badges and social cards): forked at the start of a build, before
the model exists, so it holds little memory, and imports cairosvg (~0.4 s) while the build reads
the database. Only SVG text goes in and PNG bytes come back."""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context


@contextmanager
def png_drawer() -> Iterator[ProcessPoolExecutor]:
    """A one-process pool for PNGs, forked at once and importing cairosvg meanwhile."""
    with ProcessPoolExecutor(1, mp_context=get_context("fork")) as pool:
        pool.submit(_import_cairosvg)
        yield pool


def _import_cairosvg() -> None:
    import cairosvg  # noqa: F401  (here: only the drawing process needs it)

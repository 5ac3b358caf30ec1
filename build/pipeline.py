"""The build: database -> SiteModel -> every renderer -> public/ and private/ (atomically).

The database is opened read-only, except one short write transaction that stores the new
signals. Expensive outputs (PNG badges and cards, 30/90-day histories) are reused from the
previous build when the digest of their inputs has not changed.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from build.render.api_docs import render_index
from build.compute.assemble import Assembled, BuildClock, build_site_model
from build.read.cache import CACHE_VERSION, OutputCache, digest
from build.errors import BuildError
from build.render.history_build import LongHistories, build_long_histories, store_long_histories
from build.compute.model import SiteModel
from build.render.openapi import render_openapi
from build.read.queries import store_signals
from build.render.badges import render_badge_pngs, render_badges
from build.render.html import make_env
from build.render.json_api import render_public_json
from build.render.metrics import render_metrics
from build.render.private import render_private_json
from build.render.social import render_social_pngs, render_social_svgs
from build.render.worker import forked_worker, png_drawer, submit_pages, submit_public_json
from build.write import Output, merge_outputs, write_tree
from db.connection import connect
from collect.targets import Catalog

HOUR_S = 3600


@dataclass(frozen=True, slots=True)
class BuildOptions:
    db_path: Path
    public_dir: Path
    private_dir: Path
    catalog: Catalog
    clock: BuildClock
    cache_dir: Path | None = None  # None: no reuse, every output rendered


@dataclass(frozen=True, slots=True)
class BuildReport:
    public_files: int
    private_files: int
    reused_files: int
    signals_stored: int
    generated_at: int
    skipped: tuple[str, ...]


def run_build(opts: BuildOptions) -> BuildReport:
    """Raises BuildError when the database cannot be read; bad rows are skipped and reported."""
    if not Path(opts.db_path).is_file():
        raise BuildError(f"{opts.db_path}: no such database file")
    try:
        conn = connect(opts.db_path, readonly=True)
        try:
            return _build(conn, opts)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BuildError(f"{opts.db_path}: cannot read the database: {exc}") from exc


def _build(conn: sqlite3.Connection, opts: BuildOptions) -> BuildReport:
    with png_drawer() as drawer:
        assembled = build_site_model(conn, opts.catalog, opts.clock, opts.cache_dir)
        stored = _store(opts.db_path, assembled)
        cache = OutputCache(opts.cache_dir, {"public": Path(opts.public_dir),
                                             "private": Path(opts.private_dir)})
        public, private, histories = _render(conn, assembled, cache, drawer, opts.cache_dir)
    n_public = write_tree(public, Path(opts.public_dir))
    n_private = write_tree(private, Path(opts.private_dir))
    cache.save()
    store_long_histories(opts.cache_dir, histories)
    model = assembled.model
    return BuildReport(n_public, n_private, cache.hits, stored, model.generated_at,
                       model.skipped)


def _render(conn: sqlite3.Connection, assembled: Assembled, cache: OutputCache,
            drawer: ProcessPoolExecutor, cache_dir: Path | None) -> tuple[dict, dict, LongHistories]:
    """(public, private) outputs and the long histories: pages by the forked worker, PNGs by
    drawer, the rest here meanwhile."""
    model = assembled.model
    with forked_worker(model) as pool:
        pages = submit_pages(pool)
        badges = render_badges(model)
        pngs = _draw_pngs(_badge_svgs(model, badges), render_badge_pngs, cache, drawer)
        cards = _draw_pngs(render_social_svgs(make_env(), model), render_social_pngs, cache,
                           drawer)
        if model.round_ts is not None and model.round_ts % HOUR_S == 0:
            public_json = submit_public_json(pool).result  # this process slides the histories
        else:
            public_json = (lambda done=render_public_json(model): done)
        public = merge_outputs(_public(assembled, cache), badges)
        histories = _long_histories(conn, assembled, cache, cache_dir)
        private = merge_outputs(render_private_json(model), histories.outputs)
        public = merge_outputs(public, public_json(), pages.result(), pngs(), cards())
    return public, private, histories


def _store(db_path: Path, assembled: Assembled) -> int:
    if not assembled.new_signals:
        return 0
    rw = connect(db_path)
    try:
        return store_signals(rw, list(assembled.new_signals))
    finally:
        rw.close()


def _badge_svgs(model: SiteModel, badges: dict[str, bytes]) -> dict[str, bytes]:
    """The SVG each target's PNG badge is drawn from, by the PNG's path."""
    return {t.badge_png: badges[t.badge_svg] for t in model.targets}


def _draw_pngs(svgs: dict, draw: Callable[[list], list[bytes]], cache: OutputCache,
               pool: ProcessPoolExecutor) -> Callable[[], dict[str, Output]]:
    """PNGs (by path) of svgs: reused while their SVG is unchanged, the others drawn by pool
    while this process renders the rest (cairosvg is slow). Returns a function giving them all
    once drawn."""
    out: dict[str, Output] = {}
    todo = {}
    for path, svg in svgs.items():
        reused = cache.lookup("public", (path,), digest(CACHE_VERSION, svg))
        if reused is None:
            todo[path] = svg
        else:
            out |= reused
    if not todo:
        return lambda: out
    drawn = pool.submit(draw, list(todo.values()))
    return lambda: out | dict(zip(todo, drawn.result()))


def _public(assembled: Assembled, cache: OutputCache) -> dict[str, Output]:
    model = assembled.model
    return merge_outputs(render_index(model), render_openapi(model),
                         render_metrics(model, cache.previous_duration_s))


def _long_histories(conn: sqlite3.Connection, assembled: Assembled, cache: OutputCache,
                    cache_dir: Path | None) -> LongHistories:
    """30- and 90-day files of complete hours: they change once an hour, or on late data."""
    model = assembled.model
    if model.round_ts is None:
        return LongHistories({}, None)
    return build_long_histories(conn, [t.host for t in model.targets], model.round_ts, cache,
                                cache_dir)

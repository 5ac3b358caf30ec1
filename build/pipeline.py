"""The build, one straight pipeline: read -> compute -> render -> write.

- read (build/read/): one read-only connection and the previous build's state (build/read/
  state.py) give one BuildInputs record;
- compute (build/compute/): the inputs into one SiteModel and the new signals, no I/O;
- render (build/render/): the model into {path: bytes} for public/ and private/; PNGs in a
  drawing process, unchanged expensive outputs reused, the long histories deferred;
- write (build/write.py): both trees swapped in atomically, then the signals stored and the
  state saved, so a failed render or write stores nothing.
"""
from __future__ import annotations

import ctypes
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from build.compute.assemble import Assembled, build_site_model
from build.compute.model import SiteModel
from build.errors import BuildError
from build.read.cache import CACHE_VERSION, OutputCache, digest
from build.read.inputs import BuildClock, BuildInputs, read_inputs
from build.read.long_history import LongHistoryInput
from build.read.state import (Checkpoint, Part, commit_state, discard_state, open_state,
                              stage_state)
from build.render.api_docs import render_index, render_openapi
from build.render.atom import render_signals_atom
from build.render.badges import BADGE_PNG, render_badges
from build.render.colocation import render_colocation_json
from build.render.histories import render_long_histories
from build.render.html import make_env, render_html
from build.render.json_api import render_public_json, render_sessions_json
from build.render.metrics import render_metrics
from build.render.private import render_private_json
from build.render.quality import render_quality_json
from build.render.social import CARD_PNG, render_social_svgs
from build.render.worker import PngDrawer, png_drawer
from build.write import Output, merge_outputs, write_events, write_tree
from collect.targets import Catalog
from db.connection import connect

FEED_S = 7 * 86400  # the events the public Atom feed is made from
DURATION_PART = "duration"  # the state part recording how long a build took
TEMPLATES_CACHE = "templates"  # compiled Jinja templates, in the state's folder


@dataclass(frozen=True, slots=True)
class BuildOptions:
    db_path: Path
    public_dir: Path
    private_dir: Path
    catalog: Catalog
    clock: BuildClock
    cache_dir: Path | None = None  # the build state's folder; None: no reuse, all rendered
    elapsed_s: Callable[[], float] | None = None  # seconds since the build began (the CLI's
    # clock), recorded in the state for the next build's metrics


@dataclass(frozen=True, slots=True)
class BuildReport:
    public_files: int
    private_files: int
    reused_files: int
    signals_stored: int
    generated_at: int
    skipped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Previous:
    """What render takes from the previous build's state."""

    outputs: Part | None  # the output manifest
    duration_s: float | None  # how long it took


@dataclass(frozen=True, slots=True)
class Computed:
    """What render and write need once the read stage's columns are let go."""

    assembled: Assembled
    long_history: LongHistoryInput | None
    checkpoint: Checkpoint | None
    metas: dict[str, dict]  # the JSON fields of the state's parts read (their columns staged)
    staged: Path | None  # the state file in the making (build/read/state.py)


@dataclass(frozen=True, slots=True)
class Rendered:
    public: dict[str, Output]
    private: dict[str, Output]
    parts: dict[str, Part]  # the state's parts made while rendering (outputs, history)
    reused: int


def run_build(opts: BuildOptions) -> BuildReport:
    """Raises BuildError when the database cannot be read; bad rows are skipped and reported."""
    if not Path(opts.db_path).is_file():
        raise BuildError(f"{opts.db_path}: no such database file")
    try:
        conn = connect(opts.db_path, readonly=True)
        computed = None
        try:  # open until the writer is done: the long histories are read as they are written
            computed, previous = _read_and_compute(conn, opts)
            _return_freed_memory()
            with png_drawer() as drawer:  # its process only exists while render runs
                rendered = _render(computed, opts, drawer, previous)
            return _write(opts, computed, rendered)
        finally:
            if computed is not None:
                discard_state(computed.staged)  # a failed build's; a good one's is in place
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BuildError(f"{opts.db_path}: cannot read the database: {exc}") from exc


def _return_freed_memory() -> None:
    """Hand freed heap back to the system: glibc keeps freed blocks in its heaps (~50 MB once
    the read stage's inputs go, which render would not reuse), and the drawing process starts
    beside this one. Nothing where the C library is not glibc."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _read_and_compute(conn: sqlite3.Connection,
                      opts: BuildOptions) -> tuple[Computed, Previous]:
    """Returning lets go of the read stage's inputs: render needs none of their columns, and
    central's memory is the sum over the build."""
    inputs, previous = _read(conn, opts)
    _return_freed_memory()
    return _compute(inputs, opts), previous


def _read(conn: sqlite3.Connection, opts: BuildOptions) -> tuple[BuildInputs, Previous]:
    """The inputs, and what render needs of the previous state (the rest of it is let go)."""
    with open_state(conn, opts.cache_dir) as carried:
        inputs = read_inputs(conn, opts.catalog, opts.clock, carried,
                             None if carried is None else Path(opts.private_dir))
        if carried is None:
            return inputs, Previous(None, None)
        duration = carried.parts.get(DURATION_PART) or {}
        return inputs, Previous(carried.part("outputs"), duration.get("build_duration_s"))


def _compute(inputs: BuildInputs, opts: BuildOptions) -> Computed:
    """The model and events; the state's columns staged to disk meanwhile (nothing later
    reads them)."""
    assembled = build_site_model(inputs)
    keep = opts.cache_dir is not None and inputs.checkpoint is not None
    staged = stage_state(opts.cache_dir, inputs.parts) if keep else None
    return Computed(assembled, inputs.long_history, inputs.checkpoint,
                    {name: part.meta for name, part in inputs.parts.items()}, staged)


def _render(computed: Computed, opts: BuildOptions, drawer: PngDrawer,
            previous: Previous) -> Rendered:
    """Every output; PNGs drawn by drawer's process meanwhile (cairosvg is slow), unchanged
    expensive outputs reused. One process otherwise: a worker forked here would hold a second
    copy of the model, and central's memory is the sum over the build's processes."""
    model = computed.assembled.model
    cache = OutputCache(previous.outputs, {"public": Path(opts.public_dir),
                                           "private": Path(opts.private_dir)})
    env = make_env(None if opts.cache_dir is None else Path(opts.cache_dir) / TEMPLATES_CACHE)
    badges = render_badges(model)
    pngs = _draw_pngs(_badge_svgs(model, badges), BADGE_PNG, cache, drawer)
    cards = _draw_pngs(render_social_svgs(env, model), CARD_PNG, cache, drawer)
    public = merge_outputs(render_index(model), render_openapi(model),
                           render_metrics(model, previous.duration_s), badges,
                           render_public_json(model), render_html(model, env),
                           render_quality_json(model), _public_feed(model))
    histories, history_part = ({}, None) if computed.long_history is None else (
        render_long_histories(computed.long_history, cache, computed.checkpoint.rowid))
    colocation = ({}, {}) if model.colocation is None else render_colocation_json(
        model.colocation, model.generated_at)
    public = merge_outputs(public, colocation[0])
    private = merge_outputs(render_private_json(model), histories, colocation[1],
                            render_sessions_json(model))
    public = merge_outputs(public, pngs(), cards())
    parts = {"outputs": cache.part()} | ({} if history_part is None else {"history": history_part})
    return Rendered(public, private, parts, cache.hits)


def _write(opts: BuildOptions, computed: Computed, rendered: Rendered) -> BuildReport:
    """The trees, then the signals, then the state: each only once the one before is done."""
    n_public = write_tree(rendered.public, Path(opts.public_dir))
    n_private = write_tree(rendered.private, Path(opts.private_dir))
    events = computed.assembled.events
    stored = write_events(opts.db_path, events)
    duration = {} if opts.elapsed_s is None else {
        DURATION_PART: {"build_duration_s": round(opts.elapsed_s(), 3)}}
    commit_state(computed.staged, computed.checkpoint,
                 computed.metas | {n: p.meta for n, p in rendered.parts.items()}
                 | {"events": {"round": events.judged_round}} | duration)
    model = computed.assembled.model
    return BuildReport(n_public, n_private, rendered.reused, stored, model.generated_at,
                       model.skipped)


def _public_feed(model: SiteModel) -> dict[str, bytes]:
    """feeds/signals.atom: global-scope events an hour late (build/render/atom.py applies the
    scope, the delay and the 100-entry cap), from the last week's events and the open ones."""
    recent = [asdict(e) for e in model.event_history
              if e.status == "open" or e.started_at > model.generated_at - FEED_S]
    return {"feeds/signals.atom": render_signals_atom(recent, model.generated_at)}


def _badge_svgs(model: SiteModel, badges: dict[str, bytes]) -> dict[str, bytes]:
    """The SVG each target's PNG badge is drawn from, by the PNG's path."""
    return {t.badge_png: badges[t.badge_svg] for t in model.targets}


def _draw_pngs(svgs: dict[str, str | bytes], options: dict, cache: OutputCache,
               drawer: PngDrawer) -> Callable[[], dict[str, Output]]:
    """PNGs (by path) of svgs, with cairosvg's options: reused while their SVG is unchanged,
    the others drawn by drawer while this process renders the rest. Returns a function giving
    them all once drawn."""
    out: dict[str, Output] = {}
    todo = {}
    for path, svg in svgs.items():
        reused = cache.lookup("public", (path,), digest(CACHE_VERSION, svg))
        if reused is None:
            todo[path] = svg if isinstance(svg, bytes) else svg.encode()
        else:
            out |= reused
    if not todo:
        return lambda: out
    drawn = drawer.submit(list(todo.values()), options)
    return lambda: out | dict(zip(todo, drawn()))

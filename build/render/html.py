"""Render the HTML side of the site from the SiteModel: pages, static assets and social cards.

Every link is relative (each page knows its `root`, the way back to public/), so the site works
under a CDN subpath and behind the proxy alike. Jinja2 autoescaping is on for every template.
"""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined

from build.render.html_target import build_target_page
from build.render.html_view import (CategoryRows, SiteContext, build_plans, build_regions, build_row,
                                    heat_scale, iso, signal_offer, utc_label)
from build.compute.model import SiteModel
from build.render.colocation import build_host_page
from build.render.quality import build_quality_page
from build.render.worldmap import render_world_map
from build.write import Output

TEMPLATES = Path(__file__).resolve().parents[2] / "site_templates"
STATIC_FILES = ("site.css", "site.js", "playground.js", "favicon.svg")


def make_env(bytecode_dir: Path | None = None) -> Environment:
    """bytecode_dir: where compiled templates are kept between builds (compiling them all took
    ~0.3 s a build); a changed template is compiled again, and deleting it only costs time."""
    cache = None if bytecode_dir is None else FileSystemBytecodeCache(_folder(bytecode_dir))
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                       bytecode_cache=cache)


def _folder(path: Path) -> str:
    Path(path).mkdir(parents=True, exist_ok=True)
    return str(path)


def build_site_context(model: SiteModel) -> SiteContext:
    """The records every page shares: rows by category, regions, targets with open signals,
    pricing. Signal details, routes and history beyond 24 h are the keyed API's alone."""
    rows = {t.host: build_row(t) for t in model.targets}
    categories = tuple(
        CategoryRows(c.slug, c.name, tuple(rows[h] for h in c.hosts if h in rows)) for c in model.categories)
    regions = build_regions(model)
    plans, features = build_plans()
    return SiteContext(
        generated_at=iso(model.generated_at), generated_label=utc_label(model.generated_at),
        target_count=len(model.targets), regions=regions,
        stale_regions=tuple(r for r in regions if r.stale),
        categories=tuple(c for c in categories if c.rows),
        flagged=tuple(rows[t.host] for t in model.targets if rows[t.host].signal_count),
        signal_offer=signal_offer(),
        heat_scale=heat_scale(), plans=plans, plan_features=features,
        world_map=render_world_map(regions))


def render_html(model: SiteModel, env: Environment | None = None) -> dict[str, Output]:
    """Every HTML page and static asset, keyed by path relative to public/ (env: make_env's).
    The social cards' PNGs are drawn by the pipeline (build/render/social.py), which reuses
    unchanged ones."""
    env = env or make_env()
    site = build_site_context(model)
    out: dict[str, Output] = {}

    def page(path: str, template: str, nav: str = "", **extra) -> None:
        root = "../" * path.count("/")
        html = env.get_template(template).render(site=site, root=root, nav=nav, **extra)
        out[path] = html.encode("utf-8")

    page("index.html", "landing.html.j2")
    page("status/index.html", "dashboard.html.j2", "status")
    page("regions/index.html", "regions.html.j2", "regions")
    page("playground/index.html", "playground.html.j2", "playground")
    page("quality/index.html", "quality.html.j2", "quality", q=build_quality_page(model.quality))
    if model.colocation is not None:
        page("colocation/index.html", "colocation.html.j2", "colocation",
             colo=build_host_page(model.colocation, {t.host: t.name for t in model.targets},
                                  {r.code: r.city for r in model.regions},
                                  {c.name: c.hosts for c in model.categories}))
    for target in model.targets:
        page(f"status/{target.host}/index.html", "target.html.j2", "status", t=build_row(target),
             page=build_target_page(target, model))
    for name in STATIC_FILES:
        out[f"static/{name}"] = (TEMPLATES / "static" / name).read_bytes()
    return out

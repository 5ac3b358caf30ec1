"""Render the HTML side of the site from the SiteModel: pages, charts and social cards."""
from __future__ import annotations


def render_html(model) -> dict[str, bytes]:
    """Every HTML page, static asset and social PNG, keyed by path relative to public/."""
    return {}

"""Reading built pages back: strict HTML5 parsing and the internal links of a page."""
from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import html5lib

NS = "{http://www.w3.org/1999/xhtml}"
LINK_ATTRS = (("a", "href"), ("link", "href"), ("script", "src"), ("img", "src"))


def parse_strict(data: bytes):
    """The element tree of a page; raises html5lib's ParseError on any parse error."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=True).parse(data)


@dataclass(frozen=True, slots=True)
class Link:
    page: str  # path of the page relative to public/
    tag: str
    url: str


def page_links(page: str, tree) -> list[Link]:
    return [Link(page, tag, el.get(attr)) for tag, attr in LINK_ATTRS
            for el in tree.iter(f"{NS}{tag}") if el.get(attr) is not None]


def meta_content(tree, prop: str) -> str | None:
    return next((el.get("content") for el in tree.iter(f"{NS}meta") if el.get("property") == prop), None)


def ids_of(tree) -> set[str]:
    return {el.get("id") for el in tree.iter() if el.get("id")}


def resolve(link: Link) -> tuple[str | None, str]:
    """(path relative to public/ or None when the link leaves the site, fragment)."""
    parts = urlsplit(link.url)
    if parts.scheme or parts.netloc:
        return None, parts.fragment
    if not parts.path:
        return link.page, parts.fragment
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(link.page), unquote(parts.path)))
    if parts.path.endswith("/"):
        joined += "/index.html"
    return joined, parts.fragment


def html_pages(public: Path) -> dict[str, bytes]:
    return {p.relative_to(public).as_posix(): p.read_bytes() for p in sorted(public.rglob("*.html"))}

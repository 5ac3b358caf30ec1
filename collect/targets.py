"""Load and validate targets.toml: the scanner regions and the targets every collector probes.

load_catalog(path) -> Catalog. Every problem is a CatalogError whose message starts with
`FILE:LINE: FIELD:`. tomllib returns values without positions, so after it has accepted the
file a small scanner walks the (now known valid) source and maps every key path to its line.

A target's `calendar` is checked against CALENDARS, the names exchange_calendars knows, kept
here as text: the collector loads this catalog on a 256 MB machine and must not import pandas
(tests/collect/test_targets.py holds the list equal to the pinned package's).
"""
from __future__ import annotations

import difflib
import ipaddress
import json
import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from collect.errors import CatalogError
from collect.records import PROBES, Region, Target
from collect.toml_lines import KeyPath, key_lines

CATALOG_PATH = Path(__file__).resolve().parent.parent / "targets.toml"

_TOP_KEYS = frozenset({"categories", "regions", "targets"})
_REGION_KEYS = frozenset({"city", "note", "lat", "lon"})
_TARGET_REQUIRED = frozenset({"host", "name", "category"})
_TARGET_OPTIONAL = frozenset({"port", "health_url", "probes", "calendar"})
_REGION_CODE = re.compile(r"[a-z][a-z0-9]{2,7}\Z")  # used in URLs and result ids
_DNS_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_MAX_HOST_CHARS = 253  # RFC 1035, without the trailing dot
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")
# exchange_calendars 4.13.2 get_calendar_names(include_aliases=True), aliases (NYSE, XNAS) too
CALENDARS = frozenset("""
24/5 24/7 AIXK ARCX ASEX ASX BATS BMF BSE BVB BVMF CBOT CFE CME CMES COMEX FWB HKEX ICE ICEUS
IEPA JKT JPX LSE LUXSE NASDAQ NYFE NYMEX NYSE OOTC OSE SIX SSE TASE TSX XAMS XASE XASX XBDA XBEL
XBKK XBOG XBOM XBRA XBRU XBSE XBUD XBUE XCBF XCSE XCYS XDUB XDUS XEEE XETR XEUR XFRA XHAM XHEL
XHKG XICE XIDX XIST XJSE XKAR XKLS XKRX XLIM XLIS XLIT XLJU XLON XLUX XMAD XMEX XMIL XMOS XNAS
XNYS XNZE XOSL XPAR XPHS XPRA XRIS XSAU XSES XSGO XSHG XSTO XSTU XSWX XTAE XTAI XTAL XTKS XTSE
XTSX XWAR XWBO XZAG us_futures
""".split())


@dataclass(frozen=True, slots=True)
class Catalog:
    """A validated catalog. categories keep file order; targets keep file order."""

    path: str
    regions: tuple[Region, ...]
    categories: tuple[str, ...]
    targets: tuple[Target, ...]

    def region(self, code: str) -> Region:
        """The region with this code; CatalogError names the known codes otherwise."""
        for region in self.regions:
            if region.code == code:
                return region
        known = ", ".join(r.code for r in self.regions)
        raise CatalogError(f"{self.path}: no region {code!r} (known: {known})")

    def target(self, host: str) -> Target:
        """The target with this host; CatalogError otherwise."""
        for target in self.targets:
            if target.host == host:
                return target
        raise CatalogError(f"{self.path}: no target with host {host!r}")

    def in_category(self, category: str) -> tuple[Target, ...]:
        """The targets of one category, in file order."""
        if category not in self.categories:
            raise CatalogError(f"{self.path}: no category {category!r}")
        return tuple(t for t in self.targets if t.category == category)


def category_slug(name: str) -> str:
    """The URL form of a category: "NYSE & Financial" -> "nyse-financial" (ASCII a-z0-9-)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def catalog_toml(catalog: Catalog) -> str:
    """The catalog as the TOML text load_catalog reads back to it (tests and benchmarks write
    made-up catalogs this way)."""
    lines = [f"categories = {json.dumps(list(catalog.categories))}", ""]
    for r in catalog.regions:
        lines += [f"[regions.{r.code}]", f"city = {json.dumps(r.city)}",
                  f"note = {json.dumps(r.note)}", f"lat = {r.lat}", f"lon = {r.lon}", ""]
    default = Target("", "", "")
    for t in catalog.targets:
        lines.append("[[targets]]")
        for field in ("host", "name", "category", "port", "health_url", "probes", "calendar"):
            value = getattr(t, field)
            if field in _TARGET_REQUIRED or value != getattr(default, field):
                lines.append(f"{field} = {json.dumps(list(value) if field == 'probes' else value)}")
        lines.append("")
    return "\n".join(lines)


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog file; raises CatalogError (file, line, field) on any problem."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CatalogError(f"{name}: cannot read the catalog: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CatalogError(f"{name}:{line}: -: not UTF-8 text") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(name, text, exc) from exc
    src = _Source(name, key_lines(text))
    return _catalog(src, raw)


@dataclass(frozen=True, slots=True)
class _Source:
    """Where the catalog came from, to put file, line and field into errors."""

    path: str
    lines: dict[KeyPath, int]

    def error(self, key_path: KeyPath, problem: str) -> CatalogError:
        # A missing key has no line of its own: use the nearest enclosing key or header.
        line = next((self.lines[key_path[:n]] for n in range(len(key_path), 0, -1)
                     if key_path[:n] in self.lines), 1)
        return CatalogError(f"{self.path}:{line}: {_field_name(key_path)}: {problem}")


def _field_name(key_path: KeyPath) -> str:
    """('targets', 3, 'port') -> 'targets[3].port'."""
    out = ""
    for part in key_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out or "-"


def _syntax_error(name: str, text: str, exc: tomllib.TOMLDecodeError) -> CatalogError:
    lines = text.rstrip().split("\n")  # tomllib counts "\n" only
    match = _TOML_POSITION.search(str(exc))
    line = min(int(match.group(1)), len(lines)) if match else len(lines)  # or "end of document"
    field = re.match(r"\s*\[*\s*([^=\]#]*?)\s*(?:=|\]|$)", lines[line - 1]).group(1) or "-"
    return CatalogError(f"{name}:{line}: {field}: invalid TOML: {exc}")


def _catalog(src: _Source, raw: dict) -> Catalog:
    if not raw:
        raise src.error(("targets",), "the catalog is empty: it needs regions and targets")
    _check_keys(src, raw, (), _TOP_KEYS, _TOP_KEYS)
    regions = _regions(src, raw["regions"])
    categories = _categories(src, raw["categories"])
    targets = _targets(src, raw["targets"], categories)
    used = {t.category for t in targets}
    for i, category in enumerate(categories):
        if category not in used:
            raise src.error(("categories", i), f"category {category!r} has no targets")
    return Catalog(src.path, regions, categories, targets)


def _check_keys(src: _Source, table: object, at: KeyPath,
                required: frozenset[str], allowed: frozenset[str]) -> dict:
    if not isinstance(table, dict):
        raise src.error(at, f"must be a table, not {_type_name(table)}")
    for key in table:
        if key not in allowed:
            raise src.error(at + (key,), f"unknown key (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - table.keys())
    if missing:
        raise src.error(at + (missing[0],), "is required but missing")
    return table


def _regions(src: _Source, raw: object) -> tuple[Region, ...]:
    if not isinstance(raw, dict) or not raw:
        raise src.error(("regions",), "needs at least one [regions.CODE] table")
    regions = []
    for code, fields in raw.items():
        at: KeyPath = ("regions", code)
        if not _REGION_CODE.match(code):
            raise src.error(at, f"bad region code {code!r}: 3-8 lowercase letters or digits")
        _check_keys(src, fields, at, _REGION_KEYS, _REGION_KEYS)
        regions.append(Region(
            code=code,
            city=_text(src, fields, at, "city"),
            note=_text(src, fields, at, "note"),
            lat=_degrees(src, fields, at, "lat", 90.0),
            lon=_degrees(src, fields, at, "lon", 180.0),
        ))
    return tuple(regions)


def _categories(src: _Source, raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise src.error(("categories",), "must be a non-empty array of category names")
    slugs: dict[str, str] = {}
    for i, name in enumerate(raw):
        if not isinstance(name, str) or not name.strip():
            raise src.error(("categories", i), "must be a non-empty string")
        slug = category_slug(name)
        if not slug:
            raise src.error(("categories", i), f"{name!r} has no letters or digits for a slug")
        if slug in slugs:
            raise src.error(("categories", i),
                            f"{name!r} repeats category {slugs[slug]!r} (same slug {slug!r})")
        slugs[slug] = name
    return tuple(raw)


def _targets(src: _Source, raw: object, categories: tuple[str, ...]) -> tuple[Target, ...]:
    if not isinstance(raw, list) or not raw:
        raise src.error(("targets",), "the catalog is empty: add [[targets]] tables")
    first_at: dict[str, KeyPath] = {}
    targets = []
    for i, fields in enumerate(raw):
        at: KeyPath = ("targets", i)
        _check_keys(src, fields, at, _TARGET_REQUIRED, _TARGET_REQUIRED | _TARGET_OPTIONAL)
        target = _target(src, fields, at, categories)
        if target.host in first_at:
            line = src.lines.get(first_at[target.host] + ("host",), "?")
            raise src.error(at + ("host",), f"duplicate host {target.host!r} (first: line {line})")
        first_at[target.host] = at
        targets.append(target)
    return tuple(targets)


def _target(src: _Source, fields: dict, at: KeyPath, categories: tuple[str, ...]) -> Target:
    host = _text(src, fields, at, "host")
    problem = _host_problem(host)
    if problem:
        raise src.error(at + ("host",), f"{host!r} {problem}")
    name = _text(src, fields, at, "name")
    category = _text(src, fields, at, "category")
    if category not in categories:
        raise src.error(at + ("category",),
                        f"unknown category {category!r} (categories: {', '.join(categories)})")
    optional = {}
    if "port" in fields:
        optional["port"] = _port(src, fields["port"], at + ("port",))
    if "health_url" in fields:
        optional["health_url"] = _health_url(src, fields["health_url"], at + ("health_url",))
    if "probes" in fields:
        optional["probes"] = _probes(src, fields["probes"], at + ("probes",))
    if "calendar" in fields:
        optional["calendar"] = _calendar(src, fields["calendar"], at + ("calendar",))
    return Target(host=host, name=name, category=category, **optional)


def _text(src: _Source, fields: dict, at: KeyPath, key: str) -> str:
    value = fields[key]
    if not isinstance(value, str):
        raise src.error(at + (key,), f"must be a string, not {_type_name(value)}")
    if not value.strip():
        raise src.error(at + (key,), "must not be empty")
    return value


def _degrees(src: _Source, fields: dict, at: KeyPath, key: str, limit: float) -> float:
    value = fields[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise src.error(at + (key,), f"must be a number of degrees, not {_type_name(value)}")
    if not math.isfinite(value):
        raise src.error(at + (key,), f"must be a finite number of degrees, not {value}")
    if not -limit <= value <= limit:
        raise src.error(at + (key,), f"{value} is outside -{limit:g}..{limit:g} degrees")
    return float(value)


def _port(src: _Source, value: object, at: KeyPath) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise src.error(at, f"must be an integer, not {_type_name(value)}")
    if not 1 <= value <= 65535:
        raise src.error(at, f"{value} is outside 1..65535")
    return value


def _health_url(src: _Source, value: object, at: KeyPath) -> str:
    if not isinstance(value, str):
        raise src.error(at, f"must be a string URL, not {_type_name(value)}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise src.error(at, f"{value!r} is not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise src.error(at, f"{value!r} must be an http:// or https:// URL with a host")
    if any(c.isspace() for c in value):
        raise src.error(at, f"{value!r} contains whitespace")
    if not value.isascii():  # the request line is ASCII: the probe sends the URL as written
        raise src.error(at, f"{value!r} is not ASCII (percent-encode the path, punycode the host)")
    return value


def _probes(src: _Source, value: object, at: KeyPath) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise src.error(at, f"must be a non-empty array of probe names ({', '.join(PROBES)})")
    for i, probe in enumerate(value):
        if probe not in PROBES:
            raise src.error(at + (i,), f"unknown probe {probe!r} (known: {', '.join(PROBES)})")
        if probe in value[:i]:
            raise src.error(at + (i,), f"probe {probe!r} is listed twice")
    return tuple(value)


def _calendar(src: _Source, value: object, at: KeyPath) -> str:
    if not isinstance(value, str):
        raise src.error(at, f"must be a string calendar code, not {_type_name(value)}")
    if value not in CALENDARS:
        close = ([value.upper()] if value.upper() in CALENDARS
                 else difflib.get_close_matches(value.upper(), CALENDARS, n=3))
        hint = f"; did you mean {' or '.join(sorted(close))}?" if close else ""
        raise src.error(at, f"unknown market calendar {value!r} (an exchange_calendars name "
                            f"such as XNYS, XLON or 24/5; leave it out for 24/7){hint}")
    return value


def _host_problem(host: str) -> str | None:
    """Why host is neither a canonical IP address nor a DNS name; None when it is fine."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return None if str(address) == host else f"must be written as {str(address)!r}"
    if "://" in host:
        return "must be a bare host name, not a URL"
    if any(c.isspace() for c in host):
        return "must not contain whitespace"
    if "/" in host or ":" in host:
        return "must not contain a path or port (the port goes in `port`)"
    if len(host) > _MAX_HOST_CHARS:
        return f"is longer than {_MAX_HOST_CHARS} characters"
    if host != host.lower():
        return "must be lowercase"
    labels = host.split(".")
    bad = next((label for label in labels if not _DNS_LABEL.match(label)), None)
    if bad is not None:
        return (f"has a bad DNS label {bad[:70]!r}: 1-63 of a-z 0-9 '-', "
                "not starting or ending with '-'")
    if labels[-1].isdigit():
        return "is not a valid IP address"
    return None


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


"""Signal events as an Atom feed (RFC 4287): the public one (global-scope events, one hour late)
written by the build to feeds/signals.atom, and the keyed real-time one the proxy serves.

Pure: events in, bytes out; the time is an argument. An event is one entry (its id stays the
same from onset to resolution); the feed shows every event as it stood `delay_s` before
`generated_at_s`, so the public feed reveals an opening or a resolution only an hour after it.
"""
from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from collect.records import iso_utc

ATOM_NS = "http://www.w3.org/2005/Atom"
PUBLIC_DELAY_S = 3600
MAX_ENTRIES = 100
# The entry id namespace: ids are urn:uuid:s derived from the event id, so they never change and
# claim no domain.
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "nettrace:signal-event")
# Characters XML 1.0 does not allow in a document, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class FeedOptions:
    delay_s: int = PUBLIC_DELAY_S  # show each event as it stood this long ago
    global_only: bool = True  # only events seen from enough regions to be the target's own
    in_session: bool | None = None  # only events that opened in (True) or out of (False) session
    self_href: str = "signals.atom"  # the feed's own URL (relative to where it is served)
    site_href: str = "../"  # the site's root, relative to the feed
    title: str = "NetTrace signal events"
    limit: int = MAX_ENTRIES  # the most recently changed events


def render_signals_atom(events: Iterable[Mapping], generated_at_s: int,
                        options: FeedOptions = FeedOptions()) -> bytes:
    """The Atom document (UTF-8 bytes) of events as they stood at generated_at_s - delay_s.

    An event is a mapping as the signals table holds it (proxy/rows.py's JSON of a signal):
    id, type, target, region, regions (list), scope, started_at and ended_at (unix s; ended_at
    None while open), severity, in_session (bool), description, and optionally before_ms,
    during_ms, peak_z and updated_at (unix s). Events that had not opened by then are left out;
    one that resolved later shows as open. Raises KeyError naming a missing field."""
    cutoff = generated_at_s - options.delay_s
    shown = [_as_of(e, cutoff) for e in events
             if e["started_at"] <= cutoff
             and (not options.global_only or e["scope"] == "global")
             and (options.in_session is None or bool(e["in_session"]) == options.in_session)]
    shown.sort(key=lambda s: (-s[1], s[0]["id"]))
    shown = shown[:options.limit]
    feed = ET.Element("feed", xmlns=ATOM_NS)
    _text(feed, "id", f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, 'feed:' + options.self_href)}")
    _text(feed, "title", options.title)
    _text(feed, "subtitle", _subtitle(options))
    _text(feed, "updated", iso_utc(max((s[1] for s in shown), default=cutoff)))
    ET.SubElement(ET.SubElement(feed, "author"), "name").text = "NetTrace"
    ET.SubElement(feed, "link", rel="self", type="application/atom+xml", href=options.self_href)
    ET.SubElement(feed, "link", rel="alternate", type="text/html",
                  href=f"{options.site_href}status/")
    _text(feed, "generator", "NetTrace")
    for event, updated_s, resolved in shown:
        _entry(feed, event, updated_s, resolved, options.site_href)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


def _as_of(e: Mapping, cutoff: int) -> tuple[Mapping, int, bool]:
    """(event, its last change by cutoff in unix s, resolved by cutoff?)."""
    resolved = e["ended_at"] is not None and e["ended_at"] <= cutoff
    changes = [e["started_at"], e.get("updated_at") or e["started_at"]]
    if resolved:
        changes.append(e["ended_at"])
    return e, max(t for t in changes if t <= cutoff), resolved


def _subtitle(options: FeedOptions) -> str:
    scope = "Global-scope signal events" if options.global_only else "Signal events"
    delay = (f", shown {options.delay_s // 60} minutes after they open or resolve"
             if options.delay_s else ", as they open and resolve")
    return f"{scope} of the NetTrace network latency monitor{delay}."


def _entry(feed: ET.Element, e: Mapping, updated_s: int, resolved: bool, site_href: str) -> None:
    entry = ET.SubElement(feed, "entry")
    _text(entry, "id", f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, str(e['id']))}")
    state = "resolved" if resolved else "open"
    _text(entry, "title", f"[{e['severity']}] {e['target']}: {e['description']} ({state})")
    _text(entry, "published", iso_utc(e["started_at"]))
    _text(entry, "updated", iso_utc(updated_s))
    ET.SubElement(entry, "link", rel="alternate", type="text/html",
                  href=f"{site_href}status/{e['target']}/")
    terms = [e["type"], e["severity"], e["scope"], state]
    for term in terms + (["in_session"] if e["in_session"] else []):
        ET.SubElement(entry, "category", term=_clean(str(term)))
    _text(entry, "summary", _summary(e, resolved)).set("type", "text")


def _summary(e: Mapping, resolved: bool) -> str:
    regions = ", ".join(e["regions"])
    parts = [f"{e['type']} on {e['target']} ({e.get('probe', '')}), first seen from "
             f"{e['region']}; {e['scope']} scope: {regions}.",
             f"Opened {iso_utc(e['started_at'])}"
             + (" during the market session." if e["in_session"] else ".")]
    before, during = e.get("before_ms"), e.get("during_ms")
    if before is not None and during is not None:
        parts.append(f"RTT {before:.1f} ms before, {during:.1f} ms during.")
    if e.get("peak_z") is not None:
        parts.append(f"Peak z {e['peak_z']:.1f}.")
    if resolved:
        parts.append(f"Resolved {iso_utc(e['ended_at'])}.")
    return " ".join(parts)


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = _clean(text)
    return el


def _clean(text: str) -> str:
    """text without the characters XML cannot carry (a stored description is never trusted)."""
    return _NOT_XML.sub("\ufffd", text)

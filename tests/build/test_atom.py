"""The Atom feed of signal events, read back with feedparser as feed readers read it."""
from __future__ import annotations

import feedparser

from build.render.atom import FeedOptions, render_signals_atom

NOW = 1_795_672_800  # 2026-11-26T06:00:00Z
HOUR = 3600


def event(id_: str, started_at: int, ended_at: int | None = None, **over) -> dict:
    return {"id": id_, "type": "level_shift", "target": "api.kraken.com", "region": "fra",
            "probe": "tcp", "scope": "global", "regions": ["fra", "ewr", "sin", "nrt"],
            "started_at": started_at, "ended_at": ended_at,
            "status": "open" if ended_at is None else "resolved", "before_ms": 12.5,
            "during_ms": 40.0, "peak_z": 6.2, "severity": "warning", "in_session": True,
            "description": "Kraken +27.5 ms", "detail": None,
            "updated_at": started_at if ended_at is None else ended_at} | over


def parse(body: bytes):
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def test_the_public_feed_parses_cleanly_and_names_each_event_once():
    events = [event("e1", NOW - 3 * HOUR), event("e2", NOW - 5 * HOUR, NOW - 2 * HOUR,
                                                     target="api.binance.com")]
    feed = parse(render_signals_atom(events, NOW))
    assert [e.title for e in feed.entries] == [
        "[warning] api.binance.com: Kraken +27.5 ms (resolved)",
        "[warning] api.kraken.com: Kraken +27.5 ms (open)"]
    assert len({e.id for e in feed.entries}) == 2
    assert all(e.id.startswith("urn:uuid:") for e in feed.entries)
    assert feed.entries[0].link.endswith("status/api.binance.com/")
    assert feed.entries[0].updated == "2026-11-26T04:00:00Z"
    assert feed.entries[0].published == "2026-11-26T01:00:00Z"
    assert {t.term for t in feed.entries[0].tags} == {"level_shift", "warning", "global",
                                                      "resolved", "in_session"}
    assert feed.feed.updated == "2026-11-26T04:00:00Z"


def test_the_public_feed_shows_events_only_an_hour_after_they_open_or_resolve():
    events = [event("fresh", NOW - 30 * 60),
              event("resolving", NOW - 3 * HOUR, NOW - 20 * 60),
              event("old", NOW - 2 * HOUR)]
    feed = parse(render_signals_atom(events, NOW))
    titles = {e.id: e.title for e in feed.entries}
    assert len(titles) == 2
    assert not any("fresh" in t for t in titles)
    assert all(t.endswith("(open)") for t in titles.values())
    realtime = parse(render_signals_atom(events, NOW, FeedOptions(delay_s=0)))
    assert sorted(e.title.rsplit(" ", 1)[-1] for e in realtime.entries) == [
        "(open)", "(open)", "(resolved)"]


def test_an_events_entry_id_stays_the_same_from_opening_to_resolution():
    opened = parse(render_signals_atom([event("e1", NOW - 3 * HOUR)], NOW))
    resolved = parse(render_signals_atom([event("e1", NOW - 3 * HOUR, NOW - 2 * HOUR)], NOW))
    assert opened.entries[0].id == resolved.entries[0].id
    assert opened.entries[0].updated != resolved.entries[0].updated


def test_regional_events_stay_out_of_the_public_feed_but_not_the_keyed_one():
    events = [event("g", NOW - 2 * HOUR), event("r", NOW - 2 * HOUR, scope="regional",
                                                 regions=["fra"])]
    assert len(parse(render_signals_atom(events, NOW)).entries) == 1
    keyed = FeedOptions(delay_s=0, global_only=False)
    assert len(parse(render_signals_atom(events, NOW, keyed)).entries) == 2


def test_the_feed_filters_on_in_session():
    events = [event("in", NOW - 2 * HOUR), event("out", NOW - 2 * HOUR, in_session=False)]
    only_in = parse(render_signals_atom(events, NOW, FeedOptions(in_session=True)))
    only_out = parse(render_signals_atom(events, NOW, FeedOptions(in_session=False)))
    assert [len(only_in.entries), len(only_out.entries)] == [1, 1]
    assert "in_session" in {t.term for t in only_in.entries[0].tags}
    assert "in_session" not in {t.term for t in only_out.entries[0].tags}


def test_hostile_text_is_escaped_and_characters_xml_forbids_are_replaced():
    nasty = 'a <script>alert(1)</script> & "q" \x00\x07 ]]> \ud800 end'
    feed = parse(render_signals_atom([event("e1", NOW - 2 * HOUR, description=nasty)], NOW))
    title = feed.entries[0].title
    assert "<script>alert(1)</script> & \"q\"" in title and "]]>" in title
    assert "\x00" not in title and title.count("\ufffd") == 3


def test_the_newest_changes_come_first_and_the_feed_is_capped():
    events = [event(f"e{i}", NOW - 10 * HOUR + i * 60) for i in range(150)]
    feed = parse(render_signals_atom(events, NOW))
    assert len(feed.entries) == 100
    stamps = [e.updated for e in feed.entries]
    assert stamps == sorted(stamps, reverse=True)


def test_the_same_events_and_time_give_the_same_bytes_and_an_empty_feed_is_valid():
    events = [event("e1", NOW - 3 * HOUR), event("e2", NOW - 4 * HOUR)]
    assert render_signals_atom(events, NOW) == render_signals_atom(list(reversed(events)), NOW)
    empty = parse(render_signals_atom([], NOW))
    assert empty.entries == [] and empty.feed.updated == "2026-11-26T05:00:00Z"

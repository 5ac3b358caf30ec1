"""public/ holds what the free tier gets (the latest round, 24 h of history, how many signals a
target has open) and nothing the keyed API sells. A database whose paid data carries unique
markers (hop addresses, signal descriptions, values 24 h and 6.5 days old) is built by
`nettrace build`;
private/ holds every marker, and no file under public/ (its name or its text) holds any."""
from __future__ import annotations

import hashlib
import html
import json
from collections import Counter
from pathlib import Path

import pytest

from collect.records import ROUND_S, Hop, Measurement, Target
from tests.factories import TARGETS, FixtureSpec, make_db, result_record, round_ts_of
from tests.site.conftest import nettrace_build, render_catalog
from tests.site.htmlcheck import NS, parse_strict

MARKED = Target("marker.example.net", "Marker Venue", "Crypto Exchanges")
OLD_ROUTE = ("198.51.100.71", "198.51.100.72", "198.51.100.73")  # documentation ranges (RFC 5737)
NEW_ROUTE = ("203.0.113.81", "203.0.113.82", "203.0.113.83", "203.0.113.84")
ROUTE_ROUNDS = 48  # the last ROUTE_ROUNDS rounds trace MARKED (the detector needs 8 h of baseline)
NEW_ROUTE_ROUNDS = 5  # the new route holds in the last ones (3 traced rounds open a change)
DAY_S = 86_400
# (age, RTT, its JSON, chart and metrics forms): one round too old for the free 24 h, and a value
# that the 7-day chart showed
OLD_VALUES = ((DAY_S, 3210.456, ("3210.456", "3210.46", "3210.5", "3.210456")),
              (6 * DAY_S + 12 * 3600, 4321.987, ("4321.987", "4321.99", "4322.0", "4.321987")))
ROUNDS = 100  # enough history for the level shift to stand out as an event


def marked_records(spec: FixtureSpec) -> tuple[dict, ...]:
    """MARKED's icmp and trace results of the last rounds, and an icmp result of each OLD_VALUES."""
    out = []
    for index in range(ROUNDS - ROUTE_ROUNDS, ROUNDS):
        route = NEW_ROUTE if index >= ROUNDS - NEW_ROUTE_ROUNDS else OLD_ROUTE
        hops = tuple(Hop(ttl, address, 2.0 * ttl) for ttl, address in enumerate(route, 1))
        fingerprint = hashlib.sha256("|".join(route).encode()).hexdigest()[:16]
        for region in spec.regions:
            ts = round_ts_of(spec, index)
            out.append(result_record(MARKED.host, region.code, "icmp", ts, Measurement((12.0, 12.1, 12.2))))
            out.append(result_record(MARKED.host, region.code, "trace", ts,
                                     Measurement((8.0,), hops=hops, fingerprint=fingerprint)))
    for age_s, rtt_ms, _ in OLD_VALUES:
        ts = (spec.end_round_ts - age_s) // ROUND_S * ROUND_S
        out.append(result_record(MARKED.host, spec.regions[0].code, "icmp", ts, Measurement((rtt_ms,) * 3)))
    return tuple(out)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("free-tier")
    spec = FixtureSpec(rounds=ROUNDS)
    fixture = make_db(tmp, targets=(*TARGETS, MARKED), rounds=ROUNDS, silent_targets=(MARKED.host,),
                      shift=("api.kraken.com", "ewr", 40.0, ROUNDS - 5), extra_records=marked_records(spec))
    catalog = tmp / "targets.toml"
    catalog.write_text(render_catalog(fixture.catalog), encoding="utf-8")
    result = nettrace_build(fixture.path, catalog, tmp / "public", tmp / "private", fixture.round_ts + 60)
    assert result.returncode == 0, result.stderr
    return tmp


def texts(root: Path) -> dict[str, str]:
    """Every file under root by relative path: its text, or '' for a PNG (only its name counts)."""
    return {p.relative_to(root).as_posix(): "" if p.suffix == ".png" else p.read_text(encoding="utf-8")
            for p in sorted(root.rglob("*")) if p.is_file()}


def signal_markers(private: Path) -> list[str]:
    """The signal descriptions the keyed API serves, less the target name a public page may show."""
    doc = json.loads((private / "api/v1/signals/history.json").read_bytes())
    names = {t.host: t.name for t in (*TARGETS, MARKED)}
    return [g["description"].removeprefix(names[g["target"]]).strip(" :") for g in doc["signals"]]


def where(marker: str, files: dict[str, str]) -> list[str]:
    forms = {marker, html.escape(marker)}
    return [path for path, text in files.items() if any(f in path or f in text for f in forms)]


def test_every_marker_reaches_the_keyed_api(built):
    private = texts(built / "private")
    descriptions = signal_markers(built / "private")
    kinds = {g["type"] for g in json.loads(private["api/v1/signals/history.json"])["signals"]}
    assert {"level_shift", "route_change"} <= kinds
    for marker in (*OLD_ROUTE, *NEW_ROUTE, *descriptions):
        assert where(marker, private), marker
    for _, _, (as_json, *_) in OLD_VALUES:
        assert where(as_json, private), as_json


def test_no_hop_signal_detail_or_history_beyond_24_hours_is_public(built):
    public = texts(built / "public")
    leaks = {marker: where(marker, public)
             for marker in (*OLD_ROUTE, *NEW_ROUTE, *signal_markers(built / "private"),
                            *(text for *_, forms in OLD_VALUES for text in forms))}
    leaked = [f"{marker!r} in {', '.join(paths)}" for marker, paths in leaks.items() if paths]
    assert not leaked, "paid data under public/:\n" + "\n".join(leaked)


def open_counts(private: Path) -> Counter:
    """Open signal events per target, as the keyed API serves them."""
    doc = json.loads((private / "api/v1/signals.json").read_bytes())
    return Counter(e["target"] for e in doc["signals"] if e["status"] == "open")


def test_a_target_page_says_how_many_signals_are_open_and_points_to_the_api_and_pricing(built):
    counts = open_counts(built / "private")
    assert counts["api.kraken.com"] > 1 and counts["www.nyse.com"] == 0
    for host, said in (("api.kraken.com", f"Kraken has {counts['api.kraken.com']} open signals."),
                       ("www.nyse.com", "No open signal.")):
        page = parse_strict((built / f"public/status/{host}/index.html").read_bytes())
        assert said in " ".join("".join(next(page.iter(f"{NS}main")).itertext()).split()), host
        links = {a.get("href") for a in page.iter(f"{NS}a")}
        assert {"../../index.html#pricing", "../../api/v1/index.json"} <= links, host


def test_the_dashboard_marks_each_target_with_open_signals_with_their_count(built):
    page = parse_strict((built / "public/status/index.html").read_bytes())
    marks = {}
    for row in page.iter(f"{NS}tr"):
        head = row.find(f"{NS}th")
        link = None if head is None else head.find(f"{NS}a")
        if link is not None:
            host = link.get("href").split("/")[-2]
            marks[host] = ["".join(el.itertext()) for el in head.iter(f"{NS}span") if el.get("class") == "sig-dot"]
    counts = open_counts(built / "private")
    assert counts["api.kraken.com"] > 1
    assert marks == {t.host: [f"⚑ {counts[t.host]} open signal{'s' if counts[t.host] > 1 else ''}"]
                     if counts[t.host] else [] for t in (*TARGETS, MARKED)}

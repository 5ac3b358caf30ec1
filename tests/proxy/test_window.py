"""The pure cuts: history windows (rows and columnar) and comparisons by target."""
from __future__ import annotations

from proxy.window import cut_since, pick_targets, reference_s


def test_columnar_series_are_cut_in_every_sibling_list():
    doc = {"generated_at": 100, "series": {"ts": [10, 50, 90, 100], "rtt_ms": [1, 2, 3, 4],
                                           "probe": "icmp", "regions": ["a", "b"]}}
    out = cut_since(doc, 50)
    assert out["series"] == {"ts": [90, 100], "rtt_ms": [3, 4], "probe": "icmp", "regions": ["a", "b"]}


def test_row_series_with_iso_times_are_cut():
    doc = {"points": [{"ts": "2026-11-25T00:00:00Z", "v": 1}, {"ts": "2026-11-25T06:00:00Z", "v": 2}]}
    assert cut_since(doc, reference_s({"generated_at": "2026-11-25T03:00:00Z"}))["points"] == [
        {"ts": "2026-11-25T06:00:00Z", "v": 2}]


def test_regular_series_keep_the_steps_after_the_cut_and_move_their_start():
    doc = {"generated_at": "2026-11-25T22:00:00Z", "regions": {"ewr": {"icmp": {
        "start": "2026-11-24T22:15:00Z", "step_s": 900, "rtt_ms": list(range(96)), "loss": [0.0] * 96}}}}
    end = reference_s(doc)
    series = cut_since(doc, end - 6 * 3600)["regions"]["ewr"]["icmp"]
    assert series["start"] == "2026-11-25T16:15:00Z" and series["rtt_ms"] == list(range(72, 96))
    assert len(series["loss"]) == 24 and series["step_s"] == 900


def test_lists_without_times_are_left_whole():
    doc = {"regions": ["ewr", "fra"], "hops": [{"ttl": 1}]}
    assert cut_since(doc, 10**12) == doc


def test_pick_targets_keeps_only_the_hosts_asked_for_in_lists_and_host_keyed_objects():
    doc = {"rows": [{"host": "a.com"}, {"host": "b.com"}, {"host": "c.com"}],
           "by_host": {"a.com": 1, "b.com": 2, "c.com": 3}, "schema": 1}
    out = pick_targets(doc, frozenset({"a.com", "c.com"}))
    assert out == {"rows": [{"host": "a.com"}, {"host": "c.com"}], "by_host": {"a.com": 1, "c.com": 3},
                   "schema": 1}

"""Events on labelled synthetic series (bench/signal_corpus.py, fixed seeds): each type opens
where it must, at its onset, once, and resolves; stationary noise of every shape stays quiet;
a restart with the open set passed back changes nothing. The rates themselves are measured in
bench/signals.py (millions of series-rounds), not here."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest

from bench.signal_corpus import SHAPES, Corpus, make_noise, to_history
from build.compute.events import (EVENT_SCHEMA, TYPES, Event, compute_events, event_id)
from build.compute.panel import WINDOW_ROUNDS, PanelHistory, panel_at
from collect.records import ROUND_S

WEEK = 672
WARM = 4 * WEEK  # the hour-of-week baseline's weeks
ONSET = WARM + 120  # a changed round, a day into the raw window


def replay(h: PanelHistory, first: int, last: int, open_events=(),
           memo: dict | None = None) -> tuple[list, tuple]:
    """Every EventStep of rounds first..last, and the open set after them."""
    steps = []
    for i in range(first, last + 1):
        ts = int(h.round_ts[i])
        step = compute_events(panel_at(h, ts), open_events, ts, memo)
        steps.append(step)
        open_events = step.open
    return steps, open_events


def opened(steps) -> list[Event]:
    return [e for s in steps for e in s.opened]


def resolved(steps) -> list[Event]:
    return [e for s in steps for e in s.resolved]


def corpus(shape: str = "gaussian", targets: int = 8, extra: int = 60, seed: int = 3) -> Corpus:
    return make_noise(shape, targets, ONSET + extra, seed)


def shift(c: Corpus, rows, sigmas: float, start: int = ONSET, end: int | None = None) -> None:
    c.rtt_ms[rows, start:end] += sigmas * c.sigma_ms[rows, None]


@pytest.mark.parametrize("shape", SHAPES)
def test_stationary_noise_stays_within_one_false_event_per_series_week_of_each_type(shape):
    c = make_noise(shape, 8, WARM + 2 * 96, seed=11)
    events = opened(replay(to_history(c), WARM, WARM + 2 * 96 - 1)[0])
    series_weeks = c.rtt_ms.shape[0] * 2 / 7
    assert all(sum(e.type == t for e in events) <= series_weeks for t in TYPES), events


@pytest.mark.parametrize("kind, build, expect", [
    ("level_shift", lambda c: shift(c, [0, 1, 2, 3, 4, 5, 6, 7], 8.0), "level_shift"),
    ("divergence", lambda c: shift(c, [0], 8.0), "divergence"),
    ("loss", lambda c: c.loss_ratio.__setitem__((0, slice(ONSET, None)), 0.15), "loss"),
    ("route", lambda c: c.route_code.__setitem__((0, slice(ONSET, None)), 2), "route_change"),
])
def test_each_change_opens_its_type_at_its_onset_within_four_rounds(kind, build, expect):
    c = corpus()
    build(c)
    steps, _ = replay(to_history(c), ONSET - 8, ONSET + 4)
    found = [e for e in opened(steps) if e.target == "t00000.example" and e.type == expect]
    assert found, [(e.type, e.target) for e in opened(steps)]
    e = found[0]
    assert abs(e.started_at - int(c.round_ts[ONSET])) <= ROUND_S
    assert e.status == "open" and e.ended_at is None and e.id == event_id(
        e.type, e.target, e.region, e.probe, e.started_at)


def test_six_sigma_shift_of_a_path_is_open_in_the_build_of_its_second_round():
    c = corpus()
    shift(c, [0, 1], 6.0)
    steps, _ = replay(to_history(c), ONSET - 4, ONSET + 1)
    assert {e.probe for e in opened(steps) if e.target == "t00000.example"} == {"icmp", "tcp"}


def test_one_probe_alone_needs_a_third_round_however_large_its_change():
    c = corpus()
    shift(c, [0], 10.0)
    h = to_history(c)
    two, _ = replay(h, ONSET - 4, ONSET + 1)
    three, _ = replay(h, ONSET - 4, ONSET + 2)
    assert not [e for e in opened(two) if e.target == "t00000.example"]
    assert [e.probe for e in opened(three) if e.target == "t00000.example"] == ["icmp"]


def test_a_level_shift_resolves_three_rounds_after_the_series_returns():
    c = corpus()
    shift(c, [0], 8.0, end=ONSET + 20)
    steps, open_events = replay(to_history(c), ONSET - 4, ONSET + 40)
    (gone,) = [e for e in resolved(steps) if e.target == "t00000.example" and e.probe == "icmp"]
    assert gone.status == "resolved"
    assert int(c.round_ts[ONSET + 22]) <= gone.ended_at <= int(c.round_ts[ONSET + 24])
    assert not [e for e in open_events if e.id == gone.id]


def test_route_change_with_a_shift_is_one_event_naming_the_hop_and_the_rtt():
    c = corpus()
    c.route_code[0, ONSET:] = 2
    shift(c, [0, 1], 10.0)
    steps, _ = replay(to_history(c), ONSET - 4, ONSET + 6)
    mine = [e for e in opened(steps) if e.target == "t00000.example"]
    assert [e.type for e in mine] == ["route_change"]
    (e,) = mine
    assert "route via 172.16.2.1 replaced 10.0.0.1 at hop 3; RTT +" in e.description
    updated = [u for s in steps for u in s.updated if u.id == e.id]
    final = updated[-1] if updated else e
    assert final.detail["shift"]["probe"] in ("icmp", "tcp") and final.during_ms > final.before_ms
    assert final.detail["old_hops"][2] == "10.0.0.1" and final.detail["hop"] == 3


def test_one_round_spike_in_two_probes_is_published_resolved_one_round_later():
    c = corpus()
    c.rtt_ms[[0, 1], ONSET] += 30 * c.sigma_ms[[0, 1]]
    c.rtt_ms[2, ONSET] += 30 * c.sigma_ms[2]  # one probe alone: a retransmission, no event
    steps, open_events = replay(to_history(c), ONSET - 2, ONSET + 3)
    spikes = [e for e in opened(steps) if e.type == "spike"]
    assert [(e.target, e.status, e.detail["probes"]) for e in spikes] == [
        ("t00000.example", "resolved", ["icmp", "tcp"])]
    assert spikes[0].started_at == int(c.round_ts[ONSET])
    assert spikes[0].ended_at == int(c.round_ts[ONSET + 1])
    assert not [e for e in open_events if e.type == "spike"]


def test_a_steady_ramp_is_a_trend():
    c = corpus(extra=80)
    ramp = 2.0 * np.arange(c.round_ts.size - ONSET) / 4.0  # 2 sigma an hour
    c.rtt_ms[0, ONSET:] += c.sigma_ms[0] * ramp
    steps, _ = replay(to_history(c), ONSET - 4, ONSET + 40)
    trends = [e for e in opened(steps) if e.type == "trend" and e.target == "t00000.example"]
    assert trends and trends[0].detail["slope_ms_per_h"] > 0 and "rising" in trends[0].description


def test_a_series_with_too_little_history_opens_nothing():
    c = corpus()
    shift(c, slice(None), 10.0)
    h = to_history(c)
    young = replace(h, rtt_ms=np.where(np.arange(h.round_ts.size) < ONSET - 20, np.nan,
                                       h.rtt_ms))
    steps, _ = replay(young, ONSET - 4, ONSET + 6)
    assert not [e for e in opened(steps) if e.type != "route_change"]


def test_a_daily_cycle_does_not_fire_once_the_hour_of_week_baseline_exists():
    c = make_noise("daily_weekly", 8, WARM + 2 * 96, seed=5)  # Thursday and Friday
    h = to_history(c)
    quiet = opened(replay(h, WARM, WARM + 2 * 96 - 1)[0])
    blind = replace(h, season_ms=np.full_like(h.season_ms, np.nan))
    loud = opened(replay(blind, WARM, WARM + 2 * 96 - 1)[0])
    assert len(quiet) <= 1 < len(loud), (quiet, len(loud))


def _from_json(doc: dict) -> Event:
    """What the build does when it rebuilds the open set from the stored events."""
    unix = lambda iso: None if iso is None else int(datetime.fromisoformat(  # noqa: E731
        iso.replace("Z", "+00:00")).timestamp())
    return Event(**{**doc, "regions": tuple(doc["regions"]),
                    "started_at": unix(doc["started_at"]), "ended_at": unix(doc["ended_at"]),
                    "updated_at": unix(doc["updated_at"])})


def test_restart_mid_event_with_the_stored_open_set_gives_no_duplicate_and_the_same_end():
    c = corpus()
    shift(c, [0, 1], 8.0, end=ONSET + 30)
    h = to_history(c)
    straight, _ = replay(h, ONSET - 4, ONSET + 45)
    before, open_events = replay(h, ONSET - 4, ONSET + 10)
    assert open_events
    rebuilt = tuple(_from_json(e.to_json()) for e in open_events)
    again = compute_events(panel_at(h, int(h.round_ts[ONSET + 10])), rebuilt,
                           int(h.round_ts[ONSET + 10]))
    assert not again.opened  # the same round built twice opens nothing twice
    after, _ = replay(h, ONSET + 11, ONSET + 45, rebuilt)
    assert [e.id for e in opened(before + after)] == [e.id for e in opened(straight)]
    assert [(e.id, e.ended_at) for e in resolved(before + after)] == [
        (e.id, e.ended_at) for e in resolved(straight)]


def test_a_replay_keeping_the_hourly_baselines_gives_the_same_events():
    c = corpus(extra=90)
    shift(c, [0, 1], 6.0, end=ONSET + 40)
    c.loss_ratio[4, ONSET + 10:ONSET + 30] = 0.2
    h = to_history(c)
    assert replay(h, ONSET - 4, ONSET + 80, memo={})[0] == replay(h, ONSET - 4, ONSET + 80)[0]


def _regions_history(regions: tuple[str, ...], shifted: int, seed: int = 4) -> PanelHistory:
    """One corpus per region of the same 8 targets; the first target shifts in `shifted` of
    them."""
    parts = []
    for i, region in enumerate(regions):
        c = corpus(seed=seed + i)
        if i < shifted:
            shift(c, [0, 1], 12.0)
        parts.append(to_history(c, region))
    first = parts[0]
    return replace(first, keys=sum((p.keys for p in parts), ()),
                   samples=np.concatenate([p.samples for p in parts]),
                   rtt_ms=np.vstack([p.rtt_ms for p in parts]),
                   loss_ratio=np.vstack([p.loss_ratio for p in parts]),
                   season_ms=np.vstack([p.season_ms for p in parts]),
                   season_loss_ratio=np.vstack([p.season_loss_ratio for p in parts]),
                   route_keys=sum((p.route_keys for p in parts), ()),
                   route_code=np.vstack([p.route_code for p in parts]))


def test_a_shift_seen_from_four_regions_is_one_global_event_listing_them():
    regions = ("ewr", "ord", "lhr", "fra", "sin")
    steps, _ = replay(_regions_history(regions, shifted=4), ONSET - 4, ONSET + 6)
    mine = [e for s in steps for e in s.opened + s.updated
            if e.target == "t00000.example" and e.probe == "icmp"]
    final = mine[-1]
    assert len({e.id for e in mine}) == 1
    assert final.regions == ("ewr", "fra", "lhr", "ord") and final.scope == "global"
    assert final.severity in ("warning", "critical") and "seen from 4 regions" in final.description


def test_event_json_has_the_documented_shape():
    c = corpus()
    shift(c, [0, 1], 8.0)
    (e, *_), = [opened(replay(to_history(c), ONSET, ONSET + 4)[0])]
    doc = e.to_json()
    assert EVENT_SCHEMA == 1
    assert list(doc) == ["id", "type", "target", "region", "regions", "scope", "probe",
                         "started_at", "ended_at", "status", "before_ms", "during_ms", "peak_z",
                         "severity", "description", "detail", "in_session", "updated_at"]
    assert doc["started_at"].endswith("Z") and doc["ended_at"] is None


def test_a_panel_that_does_not_end_at_the_round_is_refused():
    h = to_history(corpus())
    with pytest.raises(ValueError, match="does not end at round"):
        compute_events(panel_at(h, int(h.round_ts[ONSET])), (), int(h.round_ts[ONSET]) + 900)
    assert panel_at(h, int(h.round_ts[ONSET])).rtt_ms.shape[1] == WINDOW_ROUNDS

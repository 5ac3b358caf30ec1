"""One build's turn of the event detector: every round of the window since the last one judged
goes through compute_events (build/compute/events.py) in order, starting from the stored open
events. Pure.

Without the state's record of the last judged round (a lost state file), the rounds after the
newest stored event's are judged again: ids are stable and a resolved event is never reopened,
so nothing opens twice. A database without events has every round of the window judged.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from build.compute.detector_input import compute_panel_history
from build.compute.events import Event, EventStep, compute_events
from build.compute.panel import WINDOW_ROUNDS, panel_at
from build.compute.sessions import SessionTable, in_session
from build.read.inputs import BuildInputs
from collect.records import ROUND_S, Target

RECENT_S = 86400  # signals.json: open events and those resolved in the last 24 h


@dataclass(frozen=True, slots=True)
class BuildEvents:
    changed: tuple[Event, ...]  # opened, updated or resolved by this build: to store
    transitions: tuple[tuple[str, str, int], ...]  # (event id, opened | resolved, round_ts)
    judged_round: int | None  # the last round judged so far
    recent: tuple[Event, ...]  # open, or resolved in the last 24 h; newest onset first
    history: tuple[Event, ...]  # every stored or new event of the history window


def compute_build_events(inputs: BuildInputs) -> BuildEvents:
    latest = inputs.latest
    stored = {e.id: e for e in inputs.events}
    if latest is None:
        return BuildEvents((), (), inputs.judged_round, *_surfaces(stored, None))
    first = latest - (WINDOW_ROUNDS - 1) * ROUND_S
    history = compute_panel_history(inputs.window.results, inputs.season, inputs.hops,
                                    inputs.catalog, first, latest)
    judged = inputs.judged_round
    start = first if judged is None or judged < first else judged + ROUND_S
    open_events = tuple(e for e in stored.values() if e.status == "open")
    changed: dict[str, Event] = {}
    transitions = []
    targets = {t.host: t for t in inputs.catalog.targets}
    for round_ts in range(start, latest + 1, ROUND_S):
        step = _flag_onsets(compute_events(panel_at(history, round_ts), open_events, round_ts),
                            inputs.sessions, targets)
        for e in step.opened:
            transitions.append((e.id, "opened", round_ts))
        for e in step.resolved:
            transitions.append((e.id, "resolved", round_ts))
        for e in step.opened + step.updated + step.resolved:
            changed[e.id] = e
        open_events = step.open
    latest_judged = max(latest, judged or latest)
    return BuildEvents(tuple(changed.values()), tuple(transitions), latest_judged,
                       *_surfaces(stored | changed, latest))


def _flag_onsets(step: EventStep, table: SessionTable, targets: dict[str, Target]) -> EventStep:
    """step with each event it opened flagged in_session by its onset, in every list that
    holds it (a spike opens resolved); later rounds carry the flag on (replace keeps it)."""
    flags = {e.id: e.target in targets and in_session(table, targets[e.target], e.started_at)
             for e in step.opened}

    def flagged(events: tuple[Event, ...]) -> tuple[Event, ...]:
        return tuple(replace(e, in_session=flags[e.id]) if e.id in flags else e for e in events)

    return replace(step, opened=flagged(step.opened), resolved=flagged(step.resolved),
                   open=flagged(step.open))


def _surfaces(events: dict[str, Event],
              latest: int | None) -> tuple[tuple[Event, ...], tuple[Event, ...]]:
    ordered = sorted(events.values(), key=lambda e: (-e.started_at, e.type, e.target, e.probe,
                                                     e.region))
    if latest is None:
        return tuple(e for e in ordered if e.status == "open"), tuple(ordered)
    recent = tuple(e for e in ordered if e.status == "open"
                   or (e.ended_at is not None and e.ended_at > latest - RECENT_S))
    return recent, tuple(ordered)

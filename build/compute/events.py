"""Signals as events: compute_events(panel, open_events, round_ts) -> EventStep. Pure: no I/O,
no clock; the result for round t depends only on the Panel (data up to t) and the open events.

An event opens at its onset (started_at is the first changed round, found up to a few rounds
after it: an RTT change seen by two probes of one path in the build of its 2nd round when
large, its 4th when 3 noise scales; one probe alone from its 3rd, changes.py), stays open
while its condition holds, and resolves (ended_at, the round it was judged over) when the
series has been back to normal for the type's stated rounds:
level_shift, divergence: 3 measured rounds nearer the old level than the new (changes.py);
trend: the 6 h steps fall below 0.5 scales; loss: 8 rounds at the old loss rate (loss.py);
route_change: 2 traced rounds back on a path seen before (route_events.py); spike: one round,
published one round later, already resolved. An event still open ABSORB_ROUNDS (18 h) after
its onset resolves as absorbed (detail.absorbed): its level is the baseline now.

The only state carried between rounds is the set of open events, so a build that lost its
state rebuilds it from the stored events (status 'open') and changes nothing. An open event
covers its series: no second event opens there, and the same onset always has the same id
(event_id), so a restart never opens one event twice. Onsets of one type on one target and
probe in other regions within JOIN_ROUNDS of an event join it (regions, scope).

The JSON shape (Event.to_json, schema EVENT_SCHEMA):
  id           str, stable: a hash of (type, target, region, probe, started_at)
  type         level_shift | spike | loss | route_change | divergence | trend
  target       host;  region: where it was seen first;  regions: every agreeing region
  scope        regional | global (seen from 4 or more regions)
  probe        icmp | tcp | tls | http | dns, or trace for route_change
  started_at   ISO 8601 UTC of the onset round;  ended_at: of the resolving round, or null
  status       open | resolved
  before_ms    RTT level before the onset, ms (null when unknown)
  during_ms    RTT level since the onset, ms (null when nothing came back)
  peak_z       the largest |z| seen, signed (robust z of RTT, less its hour-of-week rhythm,
               against its baseline; for
               loss the normal score of the lost count's tail probability); null for routes
  severity     info | warning | critical;  description: one line
  detail       object or null: route_change: old_hops, new_hops, old_fingerprint,
               new_fingerprint, hop, hops_text and, joined with an RTT change, shift {probe,
               direction}; loss: loss_before_ratio, loss_during_ratio; spike: probes; trend:
               slope_ms_per_h; absorbed: true when resolved by absorption
  in_session   bool, opened while the target's market was in session
  updated_at   ISO 8601 UTC of the round of its latest change
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace
from functools import partial
from operator import attrgetter

import numpy as np

from build.compute.changes import compute_rtt_window
from build.compute.event_text import describe, scope_of, severity_of, LEVELS
from build.compute.findings import (Finding, HoldAsk, Windows, compute_holds, find_losses,
                                    find_routes, find_rtt_changes, find_spikes, find_trends,
                                    per_keys)
from build.compute.loss import compute_loss_window
from build.compute.panel import Panel
from build.compute.route_events import compute_route_window, describe_hops
from collect.records import ROUND_S, iso_utc

EVENT_SCHEMA = 1
DETECTOR_VERSION = "2026.2"
TYPES = ("level_shift", "spike", "loss", "route_change", "divergence", "trend")
JOIN_ROUNDS = 2
ABSORB_ROUNDS = 72
_FAMILY = {"level_shift": "rtt", "divergence": "rtt"}  # joined across regions as one


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    target: str
    region: str
    regions: tuple[str, ...]
    scope: str
    probe: str
    started_at: int  # unix s
    ended_at: int | None
    status: str  # open | resolved
    before_ms: float | None
    during_ms: float | None
    peak_z: float | None
    severity: str
    description: str
    detail: dict | None
    updated_at: int
    in_session: bool = False

    def to_json(self) -> dict:
        return {"id": self.id, "type": self.type, "target": self.target, "region": self.region,
                "regions": list(self.regions), "scope": self.scope, "probe": self.probe,
                "started_at": iso_utc(self.started_at),
                "ended_at": None if self.ended_at is None else iso_utc(self.ended_at),
                "status": self.status, "before_ms": self.before_ms,
                "during_ms": self.during_ms, "peak_z": self.peak_z, "severity": self.severity,
                "description": self.description, "detail": self.detail,
                "in_session": self.in_session, "updated_at": iso_utc(self.updated_at)}

    def copy_with(self, **changes) -> Event:
        """This event with changes (dataclasses.replace does the same at 2-3x the cost, which
        the replay pays for every open event every round). Raises TypeError on an unknown
        field."""
        if not changes.keys() <= _FIELD_SET:
            raise TypeError(f"Event has no field {sorted(changes.keys() - _FIELD_SET)[0]}")
        return Event(*[changes.get(name, value)
                       for name, value in zip(_FIELD_NAMES, _field_values(self))])


_FIELD_NAMES = tuple(f.name for f in fields(Event))
_FIELD_SET = frozenset(_FIELD_NAMES)
_field_values = attrgetter(*_FIELD_NAMES)


@dataclass(frozen=True, slots=True)
class EventStep:
    opened: tuple[Event, ...]  # onsets published this round (a spike already resolved)
    updated: tuple[Event, ...]  # open before, changed, still open
    resolved: tuple[Event, ...]  # resolved this round (a spike opened this round too)
    open: tuple[Event, ...]  # the open set after this round


def event_id(kind: str, target: str, region: str, probe: str, started_at: int) -> str:
    key = f"{kind}/{target}/{region}/{probe}/{started_at}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def compute_events(panel: Panel, open_events: tuple[Event, ...], round_ts: int,
                   memo: dict | None = None) -> EventStep:
    """memo: a dict a caller replaying one PanelHistory round by round may keep across calls
    (the hour's baselines are computed once; results are the same without it). Raises
    ValueError when the panel does not end at round_ts."""
    if panel.round_ts.size == 0 or int(panel.round_ts[-1]) != round_ts:
        raise ValueError(f"the panel does not end at round {round_ts}")
    ws = _windows(panel, memo)
    judged = _judge_all(ws, sorted(open_events, key=_order), round_ts)
    kept = [e for e in judged if e.status == "open"]
    opened = _open(ws, kept, round_ts)
    resolved = [e for e in judged + opened if e.status == "resolved"]
    return EventStep(tuple(sorted(opened, key=_order)),
                     tuple(e for e in kept if e.updated_at == round_ts),
                     tuple(sorted(resolved, key=_order)),
                     tuple(sorted(kept + [e for e in opened if e.status == "open"], key=_order)))


def _windows(p: Panel, memo: dict | None) -> Windows:
    return Windows(p, compute_rtt_window(p.rtt_ms, p.season_ms, p.round_ts, memo),
                   compute_loss_window(p.loss_ratio, p.samples, p.season_loss_ratio, p.round_ts),
                   compute_route_window(p.route_code, p.round_ts, memo), _rows_of(p.keys),
                   _rows_of(p.route_keys))


@per_keys
def _rows_of(keys: tuple) -> dict:
    return {k: i for i, k in enumerate(keys)}


def _order(e: Event) -> tuple:
    return (e.started_at, e.type, e.target, e.region, e.probe)


def _col(ws: Windows, ts: int) -> int:
    return int((ts - int(ws.panel.round_ts[0])) // ROUND_S)


def _judge_all(ws: Windows, events: list[Event], round_ts: int) -> list[Event]:
    """Each open event after this round (_judge), the holds of all computed together."""
    expired = [_expired(ws, e, round_ts) for e in events]
    asks = [HoldAsk(e.type, (e.target, r, e.probe), _col(ws, e.started_at), _direction(e),
                    e.detail) for e, done in zip(events, expired) if done is None
            for r in e.regions]
    holds = iter(compute_holds(ws, asks))
    out = []
    for e, done in zip(events, expired):
        if done is None:
            mine = {r: next(holds) for r in e.regions}
            done = _judge(ws, e, round_ts, {r: h for r, h in mine.items() if h is not None})
        out.append(done)
    return out


def _expired(ws: Windows, e: Event, round_ts: int) -> Event | None:
    """e resolved whatever its series show (a spike after its round; an event open
    ABSORB_ROUNDS or whose onset left the window, absorbed), or None."""
    if e.type == "spike":
        return e.copy_with(status="resolved", ended_at=round_ts, updated_at=round_ts)
    if round_ts - e.started_at >= ABSORB_ROUNDS * ROUND_S or _col(ws, e.started_at) < 1:
        return e.copy_with(status="resolved", ended_at=round_ts, updated_at=round_ts,
                           detail={**(e.detail or {}), "absorbed": True})
    return None


def _direction(e: Event) -> int:
    shift = (e.detail or {}).get("shift")
    return int(shift["direction"]) if shift else -1 if (e.peak_z or 0) < 0 else 1


def _judge(ws: Windows, e: Event, round_ts: int, holds: dict) -> Event:
    """The open event e after this round, given the holds of its regions' series: still open
    (figures brought up to date) or resolved."""
    if holds and not any(h.holds for h in holds.values()):
        return e.copy_with(status="resolved", ended_at=round_ts, updated_at=round_ts)
    primary = holds.get(e.region)
    during = e.during_ms if primary is None or primary.during_ms is None else primary.during_ms
    detail = e.detail
    if e.type == "loss" and primary is not None and primary.during_ratio is not None:
        detail = {**(detail or {}), "loss_during_ratio": primary.during_ratio}
    peak = e.peak_z
    zs = [h.z for h in holds.values() if h.z is not None]
    if zs:
        peak = round(max([peak or 0.0, *zs], key=abs), 2)
    moved = [abs(h.level_z) for h in holds.values() if h.level_z is not None]
    same = detail is e.detail and _alike(during, e.during_ms) and _alike(peak, e.peak_z)
    changes = _refreshed(ws, e, max(moved) if moved else None,
                         {} if same else {"during_ms": during, "detail": detail, "peak_z": peak})
    if any(value != getattr(e, field) for field, value in changes.items()):
        changes["updated_at"] = round_ts
    return e.copy_with(**changes) if changes else e


def _alike(a: float | None, b: float | None) -> bool:
    """Equal and written alike (0.0 == -0.0 is not)."""
    return a is b or (a == b and repr(a) == repr(b))


def _finish(ws: Windows, e: Event, level_z: float | None = None, **changes) -> Event:
    """e with changes, and its scope, severity and description brought up to date."""
    changes = _refreshed(ws, e, level_z, changes)
    return e.copy_with(**changes) if changes else e


def _refreshed(ws: Windows, e: Event, level_z: float | None, changes: dict) -> dict:
    """changes (of e's fields) and those of its scope, severity (never lower than before) and
    description that its figures with them change; level_z: the level's move in noise
    scales, when judged this round."""
    def now(field: str):
        return changes.get(field, getattr(e, field))

    regions = now("regions")
    scope = scope_of(regions)
    figures = {"z": now("peak_z"), "before_ms": now("before_ms"), "during_ms": now("during_ms"),
               "detail": now("detail")}
    name = ws.panel.names.get(e.target, e.target)
    severity = max(severity_of(e.type, level_z, figures["before_ms"], figures["during_ms"],
                               figures["detail"], scope), e.severity, key=LEVELS.index)
    description = describe(e.type, name, e.region, e.probe, figures, regions)
    texts = {"scope": scope, "severity": severity, "description": description}
    return {**changes, **{k: v for k, v in texts.items() if v != getattr(e, k)}}


def _open(ws: Windows, kept: list[Event], round_ts: int) -> list[Event]:
    """New events from this round's findings; a finding that joins an open event updates it
    in `kept` instead (updated_at = round_ts)."""
    p = ws.panel
    new: list[Event] = []
    weak_routes = {(f.target, f.region): f for f in find_routes(ws, min_rounds=1)}
    # a series an open event explains now stays explained this round (events only gain
    # regions and joins), and explains a divergence as it does a level_shift
    explained = partial(_covered, kept, "level_shift")
    for f in (find_routes(ws) + find_rtt_changes(ws, explained) + find_trends(ws)
              + find_losses(ws) + find_spikes(ws)):
        started = int(p.round_ts[f.onset_col])
        if f.type in ("level_shift", "divergence") and not _covered(kept + new, f.type, f.key):
            route = _route_near(kept + new, f, started)
            if route is not None:
                _replace_in(kept, new, _join_shift(ws, route, f, round_ts))
                continue
            weak = weak_routes.get((f.target, f.region))
            if weak is not None and abs(int(p.round_ts[weak.onset_col]) - started) \
                    <= JOIN_ROUNDS * ROUND_S:
                f = replace(weak, z=f.z, before_ms=f.before_ms, during_ms=f.during_ms,
                            level_z=f.level_z,
                            detail={**weak.detail, "shift": {"probe": f.probe,
                                                             "direction": f.direction}})
                started = int(p.round_ts[f.onset_col])
        if _covered(kept + new, f.type, f.key):
            continue
        joined = _join_target(kept + new, f, started)
        if joined is not None:
            regions = tuple(sorted({*joined.regions, f.region}))
            _replace_in(kept, new, _finish(ws, joined, regions=regions, updated_at=round_ts))
        else:
            new.append(_new_event(ws, f, started, round_ts))
    return new


def _new_event(ws: Windows, f: Finding, started: int, round_ts: int) -> Event:
    detail = f.detail
    if f.type == "route_change":
        text, hop = describe_hops(tuple(detail["old_hops"]), tuple(detail["new_hops"]))
        detail = {**detail, "hop": hop, "hops_text": text}
    spike = f.type == "spike"
    e = Event(event_id(f.type, f.target, f.region, f.probe, started), f.type, f.target,
              f.region, (f.region,), "regional", f.probe, started, round_ts if spike else None,
              "resolved" if spike else "open", f.before_ms, f.during_ms,
              None if f.z is None else round(f.z, 2), "info", "", detail, round_ts)
    return _finish(ws, e, f.level_z)


def _covered(events: list[Event], kind: str, key: tuple) -> bool:
    """An event already explains a finding of this type on this (target, region, probe)."""
    target, region, probe = key
    rtt = kind in ("level_shift", "divergence", "spike")
    for e in events:
        if e.target != target or region not in e.regions:
            continue
        if e.type == kind and e.probe == probe:
            return True
        if rtt and e.type in ("level_shift", "divergence", "trend") and e.probe == probe:
            return True
        if rtt and e.type == "route_change" and (e.detail or {}).get("shift"):
            return True
    return False


def _route_near(events: list[Event], f: Finding, started: int) -> Event | None:
    return next((e for e in events if e.type == "route_change" and e.target == f.target
                 and f.region in e.regions and e.status == "open"
                 and abs(e.started_at - started) <= JOIN_ROUNDS * ROUND_S), None)


def _join_shift(ws: Windows, route: Event, f: Finding, round_ts: int) -> Event:
    detail = {**(route.detail or {}), "shift": {"probe": f.probe, "direction": f.direction}}
    return _finish(ws, route, f.level_z, detail=detail, before_ms=f.before_ms,
                   during_ms=f.during_ms, peak_z=None if f.z is None else round(f.z, 2),
                   updated_at=round_ts)


def _join_target(events: list[Event], f: Finding, started: int) -> Event | None:
    """An event of the same type (or family), target, probe and direction, begun within
    JOIN_ROUNDS of this onset in another region."""
    family = _FAMILY.get(f.type, f.type)
    for e in events:
        if (_FAMILY.get(e.type, e.type) == family and e.target == f.target
                and e.probe == f.probe and f.region not in e.regions
                and abs(e.started_at - started) <= JOIN_ROUNDS * ROUND_S
                and (f.direction == 0 or np.sign(e.peak_z or 0) == f.direction)):
            return e
    return None


def _replace_in(kept: list[Event], new: list[Event], e: Event) -> None:
    for events in (kept, new):
        for i, old in enumerate(events):
            if old.id == e.id:
                events[i] = e
                return

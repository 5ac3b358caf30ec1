"""RTT change statistics on a Panel's window, vectorised over series. Pure numpy.

The transform: y = RTT minus the series' same-hour-of-week deviation (the season minus its
mean over the baseline), in ms: RTT noise is queueing and jitter, which a longer path or a
busier hour adds to rather than scales (on log RTT, a weekend's lower level would look noisier
than the weekdays its baseline learnt from). A market's daily and weekly rhythm is thus not a
change; where the season moves less than SEASON_MIN_SPREAD noise scales from the baseline's
start to this hour there is no rhythm to remove, and plain RTT is kept (the season would only
add its own noise).

The baseline of round t is fixed for t's hour: the 21 h (84 rounds) ending 2 h before the hour
began (baseline_span; always inside the 24 h window), at least MIN_BASELINE finite rounds, else
the series is judged on nothing. The rounds after it (8 to 11) are the ones judged. Its median
is the level; the scale is taken on each side of it (the winsorised RMS of the deviations above, and
of those below), because RTT noise is skewed: a right tail above a floor is not a sign of
change, while a drop below the floor is.

z (the figure users see) is a round's distance from the level in that side's scale.

The change rule, on the latest k rounds (ShiftTest): at most `missing` of them unmeasured,
all but `contrary` of the measured ones beyond the baseline's 93rd percentile (7th for a drop)
and beyond each_z on that side, and their mean z, each clipped, beyond mean_z. The quantile
condition holds whatever the noise's shape (4 of 5 rounds beyond it happen by chance with
probability below 2e-4), so a skewed series at its floor or a heavy tail's cluster rarely
passes; clipping bounds what one outlier (a retransmitted packet) adds or takes away.
- One series alone (SHIFT_TESTS): k = 3, 4, 5 with mean_z 3.6, 2.6, 2.2; never on fewer
  than 3 rounds, since two retransmissions in a row would pass.
- The probes of one path (PATH_TESTS: icmp, tcp, tls and http of a target from one region):
  a network change moves them all, while their noise is their own. When two or more of them
  show the change in at least half their rounds (one measured this round), their rounds
  pooled pass k = 2 (each beyond 3, one round may be lost or an outlier: a 6-sigma shift
  opens in the build of its second round) or k = 4 (mean 1.8, three rounds of eight may
  fall short: a 3-sigma shift within 4 rounds), and all of them open. One round in every
  probe is a spike, not a shift; probes agreeing by chance are a product of two rare events
  (noise shared by the probes, one queue for all, stays under 1 false event a week).
The onset is the first of the latest run of rounds beyond ONSET_Z on that side.

A level change holds until RESOLVE_ROUNDS measured rounds in a row are back nearer the level
before it than the level since; a trend (a steady rise or fall over TREND_ROUNDS, in three
steps between quarter medians of at least TREND_STEP_Z scales) holds while the steps stay
above TREND_HOLD_Z.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from build.compute.colocation import masked_median
from collect.records import ROUND_S

HOUR_S = 3600
BASELINE_GAP_S = 2 * HOUR_S  # the baseline ends this long before the judged round's hour
BASELINE_S = 21 * HOUR_S  # ... and spans this long
GUARD_ROUNDS = 8  # the latest rounds an onset is looked for in (at least 8 are judged)
MIN_BASELINE = 32  # finite baseline rounds (8 h) before a series may open anything
SCALE_FLOOR_RATIO = 0.005  # a flat series still has 0.5 % of noise ...
SCALE_FLOOR_MS = 0.05  # ... or 0.05 ms, whichever is larger
WINSOR_SIGMAS = 4.0  # deviations beyond this many symmetric sigmas count as this many
SEASON_MIN_SPREAD = 3.0  # the season is used where it moves this many noise scales
Q90_SIGMA = 1.2815515655446004  # the 90th percentile of a standard normal
OUTER_QUANTILE = 0.93  # a round beyond this quantile of the baseline (1 - it for a drop) ...
ONSET_Z = 1.0  # the onset: the first of the latest rounds beyond this, same side
RESOLVE_ROUNDS = 3  # a level change resolves after this many measured rounds back
TREND_ROUNDS = 24  # a trend is judged over 6 h, in quarters of 1.5 h
TREND_MIN_QUARTER = 4  # measured rounds a quarter needs
TREND_STEP_Z = 1.5  # each quarter's median beyond the previous quarter's by this many scales
TREND_HOLD_Z = 0.5  # ... and by this much while a trend holds (both in the noise scale of
# round-to-round differences, which a ramp does not widen)
TREND_AWAY_Z = 3.0  # the last quarter's median this many scales away from the level
TREND_LEVEL_SCALE = 0.75  # the trend's scale is at least this share of the level's


@dataclass(frozen=True, slots=True)
class ShiftTest:
    """A change on the latest `rounds` rounds: at least rounds - missing measured, all but
    `contrary` of those beyond each_z and the baseline's outer quantile on the change's side,
    and their z, clipped to ±clip_z, averaging mean_z or more."""

    rounds: int
    mean_z: float
    clip_z: float
    each_z: float
    missing: int
    contrary: int


# one series alone: no two rounds can open (two retransmitted packets in a row would)
SHIFT_TESTS = (ShiftTest(3, 3.6, 4.5, 1.0, 1, 1), ShiftTest(4, 2.6, 4.0, 1.0, 1, 1),
               ShiftTest(5, 2.2, 4.0, 1.0, 1, 1))
# two or more probes of one path (target, region), pooled: each shows the change in at least
# half its rounds, so one probe's outliers cannot open, while a path's change can from round 2
PATH_TESTS = (ShiftTest(2, 1.5, 4.0, 3.0, 1, 1), ShiftTest(4, 1.8, 3.0, 1.0, 2, 3))
LATEST_TESTED = max(t.rounds for t in SHIFT_TESTS + PATH_TESTS)
LEAST_EACH_Z = min(t.each_z for t in SHIFT_TESTS + PATH_TESTS)


@dataclass(frozen=True, slots=True)
class RttWindow:
    """Residuals and z of every series over the window; baseline figures per series."""

    y: np.ndarray  # [n_series, n_rounds] residual RTT in ms, NaN where no RTT
    level: np.ndarray  # [n_series] median of the baseline's y (NaN: too little history)
    scale_up: np.ndarray  # [n_series] the scale of y above level
    scale_down: np.ndarray  # [n_series] ... and below it
    z: np.ndarray  # [n_series, 8..11] z of the rounds after the baseline (NaN: no y, too short)
    z_outer: np.ndarray  # [n_series, 2] z of the baseline's OUTER_QUANTILE on each side


def baseline_span(round_ts: np.ndarray) -> tuple[int, int]:
    """Columns [start, end) of the baseline of the window's last round (see the module)."""
    end_ts = int(round_ts[-1]) // HOUR_S * HOUR_S - BASELINE_GAP_S
    return (int(np.searchsorted(round_ts, end_ts - BASELINE_S)),
            int(np.searchsorted(round_ts, end_ts)))


def compute_rtt_window(rtt_ms: np.ndarray, season_ms: np.ndarray, round_ts: np.ndarray,
                       memo: dict | None = None) -> RttWindow:
    """Residuals, baseline figures and the judged rounds' z of every series. memo: a dict a
    caller replaying one PanelHistory keeps across rounds; a baseline serves a whole hour, so
    it is computed once (the results are the same without it)."""
    start, end = baseline_span(round_ts)
    key = int(round_ts[-1]) // HOUR_S
    if memo is not None and key in memo:
        shift, level, up, down, outer = memo[key]
    else:
        hour_col = int(np.searchsorted(round_ts, key * HOUR_S))  # this hour's first round
        shift, level, up, down, outer = _baseline(rtt_ms[:, start:end], season_ms[:, start:end],
                                                  season_ms[:, start:hour_col + 1])
        if memo is not None:
            memo.clear()  # one hour's baseline at a time
            memo[key] = (shift, level, up, down, outer)
    y = _residuals(rtt_ms, season_ms, shift) if memo is None else _residuals_since(
        memo, key, rtt_ms, season_ms, round_ts, shift)
    w = RttWindow(y, level, up, down, np.empty((y.shape[0], 0)), outer)
    return RttWindow(y, level, up, down, z_of(w, slice(None), end), outer)


def _residuals_since(memo: dict, key: int, rtt_ms: np.ndarray, season_ms: np.ndarray,
                     round_ts: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """_residuals of the window, the columns the hour's previous rounds had taken from it (a
    column's residual depends only on the column and the hour's centre). The hour's columns
    are kept in one array with room for the hour's rounds: a round adds its own instead of
    copying the window."""
    hour, done, kept_y = memo.get("residuals", (None, round_ts[:0], None))
    at = int(np.searchsorted(done, round_ts[0]))
    kept = done.size - at
    fresh = round_ts.size - kept
    if (hour == key and kept > 0 and np.array_equal(done[at:], round_ts[:kept])
            and done.size + fresh <= kept_y.shape[1]):
        kept_y[:, done.size:done.size + fresh] = _residuals(rtt_ms[:, kept:],
                                                            season_ms[:, kept:], centre)
        done = np.concatenate([done, round_ts[kept:]])
    else:
        at, done = 0, round_ts
        kept_y = np.empty((rtt_ms.shape[0], round_ts.size + HOUR_S // ROUND_S))
        kept_y[:, :round_ts.size] = _residuals(rtt_ms, season_ms, centre)
    memo["residuals"] = (key, done, kept_y)
    return kept_y[:, at:done.size]


def _residuals(rtt_ms: np.ndarray, season_ms: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """RTT minus the season's deviation from centre (per series; NaN centre: no season)."""
    # the deviation, then y in its place: one new array, laid out as rtt_ms (the order of
    # the row sums taken from it later depends on its layout)
    y = np.subtract(season_ms, centre[:, None], out=np.empty_like(rtt_ms))
    np.copyto(y, 0.0, where=~np.isfinite(y))
    np.subtract(rtt_ms, y, out=y)
    np.copyto(y, np.nan, where=~(rtt_ms > 0))
    return y


def _baseline(rtt_ms: np.ndarray, season_ms: np.ndarray,
              season_ahead: np.ndarray) -> tuple[np.ndarray, ...]:
    """(season centre, level, scale up, scale down, z of the 10th and 90th percentiles). The
    season is used where it moves SEASON_MIN_SPREAD noise scales at least (its range from the
    baseline's first round to this hour's first, season_ahead: a step the judged rounds will
    meet counts) and centre is NaN elsewhere: a series without a rhythm would only get the
    season's noise. The noise scale is the round-to-round one, which a level shift in the
    baseline does not widen."""
    known = np.isfinite(season_ms)
    count = known.sum(axis=1)
    centre = np.where(known, season_ms, 0.0).sum(axis=1) / np.maximum(count, 1)
    rhythm = np.fmax.reduce(season_ahead, axis=1) - np.fmin.reduce(season_ahead, axis=1)
    base = _residuals(rtt_ms, season_ms, centre)
    n = np.isfinite(base).sum(axis=1)
    ordered = np.sort(base, axis=1)  # NaN last
    seasonal = (count > 0) & (rhythm >= SEASON_MIN_SPREAD
                              * diff_scale(base, _quantiles(ordered, n, 0.5)[0]))
    centre = np.where(seasonal, centre, np.nan)
    # a few series: plain RTT (without any season base already is)
    plain = np.flatnonzero(~seasonal & (count > 0))
    base[plain] = _residuals(rtt_ms[plain], season_ms[plain], centre[plain])
    n[plain] = np.isfinite(base[plain]).sum(axis=1)
    ordered[plain] = np.sort(base[plain], axis=1)
    low, level, high, lowest, highest = _quantiles(ordered, n, 0.1, 0.5, 0.9,
                                                   1 - OUTER_QUANTILE, OUTER_QUANTILE)
    floor = _scale_floor(level)
    symmetric = np.maximum((high - low) / (2 * Q90_SIGMA), floor)
    bound = WINSOR_SIGMAS * symmetric[:, None]
    dev = np.subtract(base, level[:, None], out=base)
    np.clip(dev, -bound, bound, out=dev)
    squares = dev * dev
    np.copyto(squares, 0.0, where=np.isnan(squares))  # no round, nothing to add
    up = np.maximum(_side_rms(squares, dev > 0), floor)
    down = np.maximum(_side_rms(squares, dev < 0), floor)
    level = np.where(n < MIN_BASELINE, np.nan, level)
    outer = np.stack([(lowest - level) / down, (highest - level) / up], axis=1)
    return centre, level, up, down, outer


def z_of(w: RttWindow, rows, start: int) -> np.ndarray:
    """z of the given rows (an index, slice or list) from column start on."""
    d = w.y[rows, max(start, 0):] - w.level[rows, None]
    return np.where(d >= 0, d / w.scale_up[rows, None], d / w.scale_down[rows, None])


def _quantiles(ordered: np.ndarray, n: np.ndarray, *qs: float) -> np.ndarray:
    """[len(qs), rows] linear-interpolated quantiles qs of each row's n finite (sorted,
    leading) values."""
    top = np.maximum(n - 1, 0)
    pos = np.array(qs)[:, None] * top
    lo = np.floor(pos).astype(np.int64)
    if ordered.shape[1] == 0:
        return np.full(pos.shape, np.nan)
    flat = ordered.reshape(-1)
    start = np.arange(0, flat.size, ordered.shape[1])  # of each row in flat
    a, b = flat[start + lo], flat[start + np.minimum(lo + 1, top)]
    return np.where(n > 0, a + (b - a) * (pos - lo), np.nan)


def _side_rms(squares: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Root mean of each row's squared deviations (no NaN) on one side (side: where they
    are)."""
    count = side.sum(axis=1)
    total = (squares * side).sum(axis=1)  # np.where(side, squares, 0) without its branches
    return np.sqrt(total / np.maximum(count, 1))


def compute_shift_tests(w: RttWindow, paths: np.ndarray | None = None) -> np.ndarray:
    """[n_series] +1 / -1 where the latest rounds changed up / down, else 0: by SHIFT_TESTS
    on each series, or by PATH_TESTS on the series of one path together. paths: [n_series]
    the path (a small int) of each series, -1 for none (a series judged alone). A series
    silent this round changes nothing alone; a path changes when one of its probes spoke."""
    z = w.z
    paths = np.full(z.shape[0], -1) if paths is None else paths
    # both sides at once: the latest rounds of each series up, then down, the change's side
    # positive, with the paths of the down side numbered after those of the up side; rounds
    # first, as sums of a few rounds run fastest down columns (numpy adds fewer than 8
    # values in order along either axis)
    recent = np.concatenate([z[:, -LATEST_TESTED:].T, -z[:, -LATEST_TESTED:].T], axis=1)
    outer = np.maximum(0.0, np.concatenate([w.z_outer[:, 1], -w.z_outer[:, 0]]))
    paths = np.concatenate([paths, np.where(paths >= 0, paths + paths.max(initial=0) + 1, -1)])
    # every test needs a round beyond its each_z and the outer quantile: only the few
    # series with one are tallied (the rest would add nothing to their path's pool)
    rows = np.flatnonzero((recent > np.maximum(outer, LEAST_EACH_Z)).any(axis=0))
    # (np.take keeps them rounds first in memory, as recent[:, rows] would not)
    hit = rows[_shift_hits(np.take(recent, rows, axis=1), outer[rows], paths[rows])]
    up, down = hit[hit < z.shape[0]], hit[hit >= z.shape[0]] - z.shape[0]
    out = np.zeros(z.shape[0], dtype=np.int64)
    out[down] = -1
    out[up] = 1
    return out


def _shift_hits(recent: np.ndarray, outer: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """Which series pass a test: recent, [rounds, series] their latest rounds' z (the
    change's side positive); outer, the z of their outer quantile on that side; paths, as
    compute_shift_tests'."""
    finite = np.isfinite(recent)
    hit = np.zeros(recent.shape[1], dtype=bool)
    for t in SHIFT_TESTS:
        measured, beyond, total = _tally(recent[-t.rounds:], finite[-t.rounds:], outer, t)
        hit |= ((measured >= t.rounds - t.missing) & (beyond >= measured - t.contrary)
                & (total >= t.mean_z * np.maximum(measured, 1)))
    hit &= finite[-1]
    for t in PATH_TESTS:
        hit |= _path_test(recent[-t.rounds:], finite[-t.rounds:], outer, paths, t)
    return hit


def _tally(last: np.ndarray, finite: np.ndarray, outer: np.ndarray,
           t: ShiftTest) -> tuple[np.ndarray, ...]:
    """Per series (column): rounds measured, rounds beyond each_z and the outer quantile,
    clipped sum."""
    beyond = finite & (last > np.maximum(outer, t.each_z))
    return (finite.sum(axis=0), beyond.sum(axis=0),
            np.where(finite, np.clip(last, -t.clip_z, t.clip_z), 0.0).sum(axis=0))


def _path_test(last: np.ndarray, finite: np.ndarray, outer: np.ndarray, paths: np.ndarray,
               t: ShiftTest) -> np.ndarray:
    """The series of a path that show the change in at least half their rounds, when two or
    more do, one of them was measured this round, and their rounds pooled pass t."""
    measured, beyond, total = _tally(last, finite, outer, t)
    member = (paths >= 0) & (2 * beyond >= t.rounds)
    if member.sum() < 2:
        return np.zeros(last.shape[1], dtype=bool)
    group = np.where(member, paths, 0)
    size = np.bincount(group, weights=member, minlength=1)
    fresh = np.bincount(group, weights=member & finite[-1], minlength=1)
    pooled = [np.bincount(group, weights=np.where(member, v, 0), minlength=1)
              for v in (measured, beyond, total)]
    ok = ((size >= 2) & (fresh >= 1) & (pooled[0] >= size * t.rounds - t.missing)
          & (pooled[1] >= pooled[0] - t.contrary) & (pooled[2] >= t.mean_z * pooled[0]))
    return member & ok[group]


def compute_onsets(w: RttWindow, direction: np.ndarray) -> np.ndarray:
    """[n_series] column of each change's onset: the first of the latest run of rounds with
    z beyond ONSET_Z on the change's side (missing rounds do not break the run), within the
    last GUARD_ROUNDS; the latest column where direction is 0."""
    n = w.y.shape[1]
    width = min(GUARD_ROUNDS, n)
    rows = np.flatnonzero(direction)  # a few series a round
    z = w.z[rows, w.z.shape[1] - width:]
    tail = direction[rows, None] * z
    beyond = np.where(np.isfinite(tail), tail > ONSET_Z, True)
    breaks = ~beyond[:, ::-1]  # from the latest round backwards
    run = np.where(breaks.any(axis=1), breaks.argmax(axis=1), width)
    first = n - run
    # a run that begins with missing rounds begins at its first measured round
    cols = np.arange(n - width, n)
    measured = np.where(np.isfinite(z) & (cols[None, :] >= first[:, None]), cols[None, :], n - 1)
    out = np.full(direction.shape[0], n - 1)
    out[rows] = measured.min(axis=1)
    return out


def compute_ramps(w: RttWindow) -> np.ndarray:
    """[n_series] +1 / -1 where the last TREND_ROUNDS rise / fall steadily: each quarter's
    median is TREND_STEP_Z scales beyond the previous quarter's, the last quarter is
    TREND_AWAY_Z scales away from the level (a return to it is no trend), and a line
    (Theil-Sen) fits them better than any single step does (least absolute deviations)."""
    direction = _ramp_direction(w, slice(None), TREND_STEP_Z, TREND_AWAY_Z)
    for row in np.flatnonzero(direction).tolist():
        if not _line_beats_step(w.y[row, -TREND_ROUNDS:]):
            direction[row] = 0
    return direction


def _line_beats_step(y: np.ndarray) -> bool:
    x = np.flatnonzero(np.isfinite(y)).astype(float)
    y = y[np.isfinite(y)]
    i, j = np.triu_indices(y.size, k=1)
    slope = float(np.median((y[j] - y[i]) / (x[j] - x[i])))
    line = np.abs(y - slope * x - np.median(y - slope * x)).sum()
    step = min(np.abs(y[:k] - np.median(y[:k])).sum() + np.abs(y[k:] - np.median(y[k:])).sum()
               for k in range(TREND_MIN_QUARTER, y.size - TREND_MIN_QUARTER + 1))
    return bool(line < step)


def ramp_medians(y: np.ndarray) -> np.ndarray:
    """[n_series, 4] medians of the quarters of the last TREND_ROUNDS (NaN: too few)."""
    n_series = y.shape[0]
    if y.shape[1] < TREND_ROUNDS:
        return np.full((n_series, 4), np.nan)
    quarters = y[:, -TREND_ROUNDS:].reshape(n_series * 4, TREND_ROUNDS // 4)
    count = np.isfinite(quarters).sum(axis=1)
    m = _quantiles(np.sort(quarters, axis=1), count, 0.5)[0]
    return np.where(count >= TREND_MIN_QUARTER, m, np.nan).reshape(n_series, 4)


def _ramp_direction(w: RttWindow, series, step_z: float, away_z: float) -> np.ndarray:
    """[len(series)] the ramp of each of the series (an index or slice of rows). Steps and
    distance measured in the noise scale of round-to-round differences (a ramp or a step in
    the baseline would widen the level's scales, not this one), or in TREND_LEVEL_SCALE of
    the level's when larger (noise that stays for an hour, as an imperfect hour-of-week
    baseline leaves, hardly shows in round-to-round differences); the level's spread is
    taken before the trend's rounds, which a ramp would widen."""
    y, level = w.y[series], w.level[series]
    m = ramp_medians(y)
    steps = np.diff(m, axis=1)
    up, down = (steps > 0).all(axis=1), (steps < 0).all(axis=1)  # NaN steps neither
    rows = np.flatnonzero((up | down) & np.isfinite(level))
    d = np.where(up[rows], 1, -1)
    before = y[rows, :max(0, y.shape[1] - TREND_ROUNDS)]
    count = np.isfinite(before).sum(axis=1)
    ordered = np.sort(before, axis=1)
    high, low = _quantiles(ordered, count, 0.9, 0.1)
    spread = (high - low) / (2 * Q90_SIGMA)
    least = TREND_LEVEL_SCALE * np.nan_to_num(spread)
    # the scale is at least `least` (and SCALE_FLOOR_MS): a row whose steps fall short of
    # step_z in it falls short in the scale, and its noise is not measured
    rising = d[:, None] * steps[rows]
    short = ~(rising / np.maximum(least, SCALE_FLOOR_MS)[:, None] >= step_z).all(axis=1)
    rows, least, d, rising = rows[~short], least[~short], d[~short], rising[~short]
    out = np.zeros(y.shape[0], dtype=np.int64)
    if rows.size == 0:
        return out  # most rounds
    scale = np.maximum(diff_scale(y[rows]), least)
    steady = (rising / scale[:, None] >= step_z).all(axis=1)
    steady &= d * (m[rows, -1] - level[rows]) / scale >= away_z
    out[rows[steady]] = d[steady]
    return out


def ramp_holds(w: RttWindow, row: int, direction: int) -> bool:
    """A trend holds while the last TREND_ROUNDS still rise (fall) TREND_HOLD_Z a quarter."""
    return int(_ramp_direction(w, [row], TREND_HOLD_Z, 0.0)[0]) == direction


def diff_scale(y: np.ndarray, median: np.ndarray | None = None) -> np.ndarray:
    """[rows] robust sigma of each row from its round-to-round differences (1.4826 MAD / √2),
    floored like the level's scales at the row's median (median: when the caller has it)."""
    d = np.diff(y, axis=1)
    count = np.isfinite(d).sum(axis=1)
    centre = _quantiles(np.sort(d, axis=1), count, 0.5)[0]
    spread = np.abs(np.subtract(d, centre[:, None], out=d), out=d)
    spread.sort(axis=1)
    mad = _quantiles(spread, count, 0.5)[0]
    if median is None:
        median = _quantiles(np.sort(y, axis=1), np.isfinite(y).sum(axis=1), 0.5)[0]
    return np.maximum(1.4826 * mad / np.sqrt(2.0), _scale_floor(median))


def _scale_floor(level: np.ndarray) -> np.ndarray:
    """The least noise scale of a series at this level (NaN: none known), ms."""
    return np.maximum(SCALE_FLOOR_RATIO * np.abs(np.nan_to_num(level)), SCALE_FLOOR_MS)


@dataclass(frozen=True, slots=True)
class LevelHolds:
    """compute_level_holds' figures, one per change asked about."""

    holds: np.ndarray  # bool
    before: np.ndarray  # median y before the onset (ms)
    during: np.ndarray  # median y since the onset
    peak_z: np.ndarray  # the largest z since the onset on the change's side (signed)
    level_z: np.ndarray  # how far the level since moved from the level before, in that side's scale


def compute_level_holds(w: RttWindow, rows: np.ndarray, onset_cols: np.ndarray,
                        directions: np.ndarray) -> LevelHolds:
    """A level change holds until its last RESOLVE_ROUNDS measured rounds all lie nearer the
    level before its onset than the level since (the midpoint between the two medians). One
    change per entry of rows, onset_cols and directions (+1 / -1), all judged together (a
    replay asks about every open event every round). A change without a measured round
    before or since its onset, or without a level, holds (NaN medians, z 0)."""
    y = w.y[rows]
    finite = np.isfinite(y)
    since = finite & (np.arange(y.shape[1])[None, :] >= onset_cols[:, None])
    medians, counts = masked_median(np.where(np.concatenate([finite & ~since, since]),
                                             np.concatenate([y, y]), np.nan))
    (before, during), (n_before, n_since) = medians.reshape(2, -1), counts.reshape(2, -1)
    level, up, down = w.level[rows], w.scale_up[rows], w.scale_down[rows]
    far_col = np.where(since, directions[:, None] * y, -np.inf).argmax(axis=1)
    far = y[np.arange(y.shape[0]), far_col] - level
    mid = (before + during) / 2
    # the last RESOLVE_ROUNDS measured rounds since the onset
    recent = since & (np.cumsum(since, axis=1) > (n_since - RESOLVE_ROUNDS)[:, None])
    nearer_before = directions[:, None] * (y - mid[:, None]) < 0
    back = (n_since >= RESOLVE_ROUNDS) & ~(recent & ~nearer_before).any(axis=1)
    known = (n_before > 0) & (n_since > 0) & np.isfinite(level)
    moved = (during - before) / np.where(directions > 0, up, down)
    return LevelHolds(~known | ((directions * (during - before) > 0) & ~back),
                      np.where(known, before, np.nan), np.where(known, during, np.nan),
                      np.where(known, np.where(far >= 0, far / up, far / down), 0.0),
                      np.where(known, moved, 0.0))

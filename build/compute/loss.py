"""Loss statistics on a Panel's window, vectorised over series. Pure.

Two binomial tests against the series' own baseline (changes.baseline_span):
- packets: the samples lost in the last LOSS_ROUNDS answered rounds (rounds with at least one
  reply) against the baseline's lost-sample rate, which counts half a lost sample when it has
  none (a rate never seen is not a rate of zero); the hour-of-week loss of earlier weeks (its
  median over the window) raises that rate when it is higher.
- rounds: the wholly lost rounds among the last LOSS_ROUNDS against the baseline's share of
  them, at least LOST_ROUND_FLOOR: 1-2 % of lost rounds is a quiet series, and never adds up
  to an event, while an outage of 3 rounds does.
Either fires when its tail probability is at most LOSS_ALPHA, at least 2 samples (or rounds)
were lost, and the recent rate is LOSS_MIN_RISE above the baseline's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from build.compute.changes import MIN_BASELINE, baseline_span

LOSS_ROUNDS = 5  # the latest rounds judged
LOSS_ALPHA = 5e-4  # tail probability of the lost count under the baseline rate
LOSS_MIN_RISE = 0.02  # the recent loss rate is at least this much above the baseline's
LOST_ROUND_FLOOR = 0.02  # the share of wholly lost rounds a quiet series may have
LOSS_HOLD_ROUNDS = 8  # an event holds while these last rounds lose LOSS_MIN_RISE / 2 more
LOST = 1.0 - 1e-9  # a round with this loss ratio lost every sample
Z_MAX = 40.0


@dataclass(frozen=True, slots=True)
class LossWindow:
    fires: np.ndarray  # [n_series] bool
    z: np.ndarray  # [n_series] normal score of the tail probability (0 where not fired)
    onset: np.ndarray  # [n_series] column of the first lossy round judged
    base_ratio: np.ndarray  # [n_series] the baseline's loss, lost rounds included (0: unjudged)


def compute_loss_window(loss_ratio: np.ndarray, samples: np.ndarray,
                        season_loss_ratio: np.ndarray, round_ts: np.ndarray) -> LossWindow:
    """Only series that lost something in the judged rounds are judged."""
    n_series, n_rounds = loss_ratio.shape
    fires, z = np.zeros(n_series, dtype=bool), np.zeros(n_series)
    onset, base_ratio = np.full(n_series, n_rounds - 1), np.zeros(n_series)
    recent = loss_ratio[:, -LOSS_ROUNDS:]
    lossy = np.where(np.isfinite(recent), recent > 0, False)
    rows = np.flatnonzero(lossy.sum(axis=1) >= 1)
    if rows.size == 0:
        return LossWindow(fires, z, onset, base_ratio)
    start, end = baseline_span(round_ts)
    base, recent = loss_ratio[rows, start:end], recent[rows]
    sent = samples[rows, None].astype(float)
    packets = _counts(base, recent, sent, answered=True)
    rounds = _counts(base, recent, np.ones_like(sent), answered=False)
    season = np.nan_to_num(_median(season_loss_ratio[rows]))
    rate_p = np.maximum((packets[0] + 0.5) / (packets[1] + 1.0), season)
    rate_r = np.maximum((rounds[0] + 0.5) / (rounds[1] + 1.0), LOST_ROUND_FLOOR)
    enough = np.isfinite(base).sum(axis=1) >= MIN_BASELINE
    for lost, count, rate, base_rate in ((packets[2], packets[3], rate_p, packets[4]),
                                         (rounds[2], rounds[3], rate_r, rounds[4])):
        candidate = enough & (lost >= 2) & (lost >= count * (base_rate + LOSS_MIN_RISE))
        for i in np.flatnonzero(candidate).tolist():
            tail = binomial_tail(int(count[i]), float(rate[i]), int(lost[i]))
            if tail <= LOSS_ALPHA:
                z[rows[i]] = max(z[rows[i]], normal_score(tail))
    fires = z > 0
    onset[rows] = n_rounds - LOSS_ROUNDS + lossy[rows].argmax(axis=1)
    base_ratio[rows] = _mean(base)
    return LossWindow(fires, z, onset, base_ratio)


def _median(values: np.ndarray) -> np.ndarray:
    """Row medians of the finite values, NaN for a row without any."""
    count = np.isfinite(values).sum(axis=1)
    ordered = np.sort(values, axis=1)
    at = np.maximum(count - 1, 0)
    lo = np.take_along_axis(ordered, (at // 2)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(ordered, ((at + 1) // 2)[:, None], axis=1)[:, 0]
    return np.where(count > 0, (lo + hi) / 2, np.nan)


def _mean(values: np.ndarray) -> np.ndarray:
    """Row means of the finite values, 0 for a row without any."""
    known = np.isfinite(values)
    return np.where(known, values, 0.0).sum(axis=1) / np.maximum(known.sum(axis=1), 1)


def _counts(base: np.ndarray, recent: np.ndarray, sent: np.ndarray,
            answered: bool) -> tuple[np.ndarray, ...]:
    """(lost and sent in the baseline, lost and sent recently, the baseline's rate), counting
    samples of answered rounds (answered=True) or whole lost rounds (False)."""
    out = []
    for part in (base, recent):
        has = np.isfinite(part)
        if answered:
            keep = has & (part < LOST)
            lost = np.where(keep, np.rint(part * sent), 0.0).sum(axis=1)
            total = (keep * sent).sum(axis=1)
        else:
            lost = (has & (part >= LOST)).sum(axis=1).astype(float)
            total = has.sum(axis=1).astype(float)
        out += [lost, total]
    out.append(out[0] / np.maximum(out[1], 1.0))
    return tuple(out)


def binomial_tail(n: int, p: float, k: int) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (k <= n)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1)
             + j * log_p + (n - j) * log_q for j in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def normal_score(tail: float) -> float:
    """The z whose upper tail is `tail` (capped at Z_MAX): how unusual, in sigmas."""
    if tail <= 0.0:
        return Z_MAX
    return min(Z_MAX, NormalDist().inv_cdf(1.0 - tail) if tail > 1e-15
               else math.sqrt(-2.0 * math.log(tail)))


def compute_loss_holds(loss_ratio: np.ndarray, before_ratio: np.ndarray) -> np.ndarray:
    """[n_series] True where the last LOSS_HOLD_ROUNDS rounds with results still lose
    LOSS_MIN_RISE / 2 more than before_ratio, or have no result at all (no news)."""
    recent = loss_ratio[:, -LOSS_HOLD_ROUNDS:]
    has = np.isfinite(recent).any(axis=1)
    return ~has | (_mean(recent) >= before_ratio + LOSS_MIN_RISE / 2)

"""Quant signals as pure numpy functions: arrays in, numbers and records out. No SQLite, no
clock (callers pass times), no files.

Edge cases: an empty or too-short baseline gives a NaN z-score (never fires); a flat baseline
has its scale floored so it never divides by zero; a single sample gives no trend.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

Z_FIRE = 2.0  # |z| above this fires rtt_anomaly
Z_WARNING = 4.0
Z_CRITICAL = 8.0
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its sigma
SCALE_FLOOR_MS = 0.05  # a flat series still has this much noise
SCALE_FLOOR_RATIO = 0.005  # ... or this share of its level, whichever is larger
MIN_BASELINE = 8  # rounds of history before rtt_anomaly may fire
LEVEL_ROUNDS = 3  # a level shift: the median of this many latest rounds is off too
LEVEL_CONFIRM_Z = 1.0  # ... and the latest round itself is at least this far off
MIN_WEEKS = 2  # same-hour-of-week values before the weekly baseline replaces the recent one
DIVERGENCE_Z = 3.0  # the target's own z
PEER_CALM_Z = 1.0  # the category's median |z| must stay below this
MIN_PEERS = 3  # other targets in the category, same region and round
TREND_WINDOW_S = 6 * 3600
TREND_MIN_POINTS = 8
TREND_MIN_MS_PER_H = 1.0  # absolute floor of a sustained slope
TREND_SCALE_PER_H = 0.5  # ... or this many noise scales per hour, whichever is larger
TREND_CI_Z = 1.96  # 95 % confidence interval
GLOBAL_MIN_REGIONS = 4  # of 7: an event seen this widely is the target's, not a collector's


@dataclass(frozen=True, slots=True)
class Signal:
    type: str  # rtt_anomaly | route_change | divergence | trend
    target: str
    region: str
    probe: str
    ts: int  # unix s of the round it fired on
    value: float  # z-score, ms/hour, or 1 for a route change
    threshold: float
    severity: str  # info | warning | critical
    scope: str  # regional | global
    regions: tuple[str, ...]  # the regions where the same signal fired this round
    description: str
    old_hops: tuple[str, ...] | None = None  # route_change only
    new_hops: tuple[str, ...] | None = None
    old_fingerprint: str | None = None  # route_change only
    new_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class TrendFit:
    slope_ms_per_h: float
    low_ms_per_h: float  # confidence interval of the slope
    high_ms_per_h: float
    n: int


def compute_scale_ms(values_ms: np.ndarray, level_ms: float) -> float:
    """Robust sigma (1.4826 x MAD) of values, floored for flat series."""
    return float(compute_scale_rows(values_ms[None, :], np.array([level_ms]))[0])


def compute_scale_rows(values_ms: np.ndarray, level_ms: np.ndarray) -> np.ndarray:
    """compute_scale_ms of each row of a 2-D array (NaN = missing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, then 0
        med = np.nanmedian(values_ms, axis=1)
        mad = np.nan_to_num(np.nanmedian(np.abs(values_ms - med[:, None]), axis=1))
    floor = np.maximum(SCALE_FLOOR_MS, SCALE_FLOOR_RATIO * np.abs(level_ms))
    return np.maximum(MAD_TO_SIGMA * mad, floor)


def weekly_level_ms(weekly_ms: np.ndarray | None) -> float:
    """The median of the same-hour-of-week values, NaN with fewer than MIN_WEEKS of them."""
    if weekly_ms is None:
        return float("nan")
    finite = weekly_ms[np.isfinite(weekly_ms)]
    return float(np.median(finite)) if finite.size >= MIN_WEEKS else float("nan")


def compute_rtt_z(recent_ms: np.ndarray, latest_ms: float,
                  weekly_ms: np.ndarray | None = None) -> float:
    """z-score of latest_ms against the robust baseline of recent_ms (the rounds before it).

    With at least MIN_WEEKS same-hour-of-week values (weekly_ms: hourly medians 1, 2, ... weeks
    ago) their median is the level, so a market's daily rhythm is not an anomaly; the scale is
    always the recent rounds' robust sigma. NaN when latest is missing or the baseline short."""
    return float(compute_rtt_z_rows(recent_ms[None, :], np.array([latest_ms]),
                                    np.array([weekly_level_ms(weekly_ms)]))[0])


def compute_rtt_z_rows(recent_ms: np.ndarray, latest_ms: np.ndarray,
                       weekly_level: np.ndarray) -> np.ndarray:
    """compute_rtt_z of each row; weekly_level per row from weekly_level_ms."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.where(np.isfinite(weekly_level), weekly_level,
                         np.nanmedian(recent_ms, axis=1) if recent_ms.shape[1] else np.nan)
    z = (latest_ms - level) / compute_scale_rows(recent_ms, level)
    short = np.isfinite(recent_ms).sum(axis=1) < MIN_BASELINE
    z[short | ~np.isfinite(latest_ms)] = np.nan
    return z


def compute_level_z(rtt_ms: np.ndarray, weekly_ms: np.ndarray | None = None) -> float:
    """z-score of the median of the last LEVEL_ROUNDS rounds against the rounds before them,
    in standard errors of that median: a persisting shift of 3 sigma is caught on the rounds
    after it even when one noisy round alone would not cross Z_FIRE. NaN when too short."""
    return float(compute_level_z_rows(rtt_ms[None, :], np.array([weekly_level_ms(weekly_ms)]))[0])


def compute_level_z_rows(rtt_ms: np.ndarray, weekly_level: np.ndarray) -> np.ndarray:
    """compute_level_z of each row (the latest round in the last column)."""
    n = rtt_ms.shape[0]
    if rtt_ms.shape[1] < LEVEL_ROUNDS + MIN_BASELINE:
        return np.full(n, np.nan)
    base, tail = rtt_ms[:, :-LEVEL_ROUNDS], rtt_ms[:, -LEVEL_ROUNDS:]
    z = compute_rtt_z_rows(base, np.median(tail, axis=1), weekly_level)
    z /= np.sqrt(np.pi / (2 * LEVEL_ROUNDS))  # standard error of a median of LEVEL_ROUNDS
    z_latest = compute_rtt_z_rows(base, rtt_ms[:, -1], weekly_level)
    out = np.where((z * z_latest > 0) & (np.abs(z_latest) > LEVEL_CONFIRM_Z), z, 0.0)
    out[np.isnan(z)] = np.nan
    return out


def severity_of_z(z: float) -> str:
    a = abs(z)
    return "critical" if a >= Z_CRITICAL else "warning" if a >= Z_WARNING else "info"


def compute_theil_sen(t_h: np.ndarray, y_ms: np.ndarray) -> TrendFit | None:
    """Theil-Sen slope (median of pairwise slopes) in ms/hour, with Sen's rank-based
    confidence interval. None with fewer than TREND_MIN_POINTS finite points."""
    slope, low, high, n = compute_theil_sen_rows(t_h, y_ms[None, :])
    return None if np.isnan(slope[0]) else TrendFit(float(slope[0]), float(low[0]),
                                                    float(high[0]), int(n[0]))


def compute_theil_sen_rows(t_h: np.ndarray, y_ms: np.ndarray) -> tuple[np.ndarray, ...]:
    """compute_theil_sen of each row over the shared times t_h: (slope, low, high, points),
    NaN slopes where a row has fewer than TREND_MIN_POINTS finite points."""
    i, j = np.triu_indices(t_h.size, k=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        dt = t_h[j] - t_h[i]
        slopes = (y_ms[:, j] - y_ms[:, i]) / np.where(dt != 0, dt, np.nan)
    n = np.isfinite(y_ms).sum(axis=1)
    m = np.isfinite(slopes).sum(axis=1)
    ordered = np.sort(slopes, axis=1)  # NaN sorts last
    var_s = n * (n - 1) * (2 * n + 5) / 18.0  # variance of Kendall's S, no ties
    c = TREND_CI_Z * np.sqrt(var_s)
    top = np.maximum(m - 1, 0)
    lo = np.clip(np.floor((m - c) / 2), 0, top).astype(int)
    hi = np.clip(np.ceil((m + c) / 2), 0, top).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        slope = np.nanmedian(slopes, axis=1) if slopes.shape[1] else np.full(len(n), np.nan)
    low = np.take_along_axis(ordered, lo[:, None], axis=1)[:, 0] if slopes.shape[1] else slope
    high = np.take_along_axis(ordered, hi[:, None], axis=1)[:, 0] if slopes.shape[1] else slope
    few = n < TREND_MIN_POINTS
    return (np.where(few, np.nan, slope), np.where(few, np.nan, low),
            np.where(few, np.nan, high), n)


def trend_threshold_ms_per_h(scale_ms):
    """The slope a trend must exceed, in ms/hour, for a scale (float or array) in ms."""
    return np.maximum(TREND_MIN_MS_PER_H, TREND_SCALE_PER_H * np.asarray(scale_ms))


def trend_fires(fit: TrendFit | None, threshold_ms_per_h: float) -> bool:
    """A sustained rise or fall: the whole confidence interval is beyond the threshold."""
    if fit is None:
        return False
    return fit.low_ms_per_h > threshold_ms_per_h or fit.high_ms_per_h < -threshold_ms_per_h


def compute_divergent(z: np.ndarray) -> np.ndarray:
    """Per target of one category, region and round: True where its z is high while the
    category's median |z| stays near 0. NaN z-scores never diverge and are not peers."""
    z = np.asarray(z, dtype=float)
    finite = np.isfinite(z)
    out = np.zeros(z.shape, dtype=bool)
    if finite.sum() < MIN_PEERS + 1:
        return out
    calm = float(np.median(np.abs(z[finite]))) < PEER_CALM_Z
    out[finite] = calm & (np.abs(z[finite]) > DIVERGENCE_Z)
    return out


def scope_of(agreeing_regions: int) -> str:
    return "global" if agreeing_regions >= GLOBAL_MIN_REGIONS else "regional"


def compute_region_staleness(last_round_ts: dict[str, int | None], latest_round_ts: int | None,
                             expected_round_ts: int | None) -> dict[str, str | None]:
    """Why each region is stale, or None when fresh. expected_round_ts is the round whose
    results are due by now (the caller allows the 60 s lateness); latest_round_ts is the newest
    round any region reported."""
    out: dict[str, str | None] = {}
    for code, last in last_round_ts.items():
        if last is None:
            out[code] = "never reported"
        elif latest_round_ts is not None and last < latest_round_ts:
            out[code] = "missed the latest round"
        elif expected_round_ts is not None and last < expected_round_ts:
            out[code] = "round late"
        else:
            out[code] = None
    return out

"""The seasonal baseline: how far a point sits from the same time of day and week in the past.

For each point the sample is the earlier points near the same time of week one to four weeks back
or, until a week has passed, near the same time of day on each of the last six days; the expected
value is the sample's median and the band its median absolute deviation (MAD), so a few past
anomalies do not move it. Where the past holds no such sample yet (the first day), the last few
points stand in.
"""

from __future__ import annotations

import math

import numpy as np

from anomalies.timeseries import Detection, Series

DAY = 86_400.0
WEEKLY_LAGS = tuple(7 * DAY * k for k in range(1, 5))
DAILY_LAGS = tuple(DAY * k for k in range(1, 7))
LAGS = WEEKLY_LAGS + DAILY_LAGS
# How near in time (in steps) a past point must be to a lag to join the sample.
WEEKLY_TOLERANCE, DAILY_TOLERANCE = 3.0, 1.5
MIN_SAMPLE = 5
RECENT_POINTS = 12
# A robust z-score at which a point is anomalous: its score is then 0.5.
Z_DECISION = 6.0
MAD_TO_SIGMA = 1.4826
# The spread is smoothed over this many points (the current one and those before it).
SCALE_POINTS = 24


def neighbour_indices(index: int, order: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    """Earlier points near the weekly lags of point `index`, or near the daily ones when too few."""
    for family in (range(len(WEEKLY_LAGS)), range(len(WEEKLY_LAGS), len(LAGS))):
        found = np.concatenate([order[lows[lag, index] : highs[lag, index]] for lag in family])
        found = found[found < index]
        if len(found) >= MIN_SAMPLE:
            return found
    return found


def seasonal_windows(series: Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted order of the points and, per lag and point, the range of that order near the lag."""
    order = np.argsort(series.seconds, kind="stable")
    sorted_seconds = series.seconds[order]
    lows = np.empty((len(LAGS), len(series)), dtype=int)
    highs = np.empty((len(LAGS), len(series)), dtype=int)
    for lag_index, lag in enumerate(LAGS):
        tolerance = (WEEKLY_TOLERANCE if lag_index < len(WEEKLY_LAGS) else DAILY_TOLERANCE) * series.step
        lows[lag_index] = np.searchsorted(sorted_seconds, series.seconds - lag - tolerance, side="left")
        highs[lag_index] = np.searchsorted(sorted_seconds, series.seconds - lag + tolerance, side="right")
    return order, lows, highs


def robust_scale_floor(values: np.ndarray) -> float:
    """A least spread, so that a flat past does not make every wiggle infinitely unusual."""
    spread = MAD_TO_SIGMA * float(np.median(np.abs(values - np.median(values))))
    return max(0.1 * spread, 1e-6 * (1.0 + float(np.median(np.abs(values)))))


def smoothed_scale(scale: np.ndarray) -> np.ndarray:
    """Each point's spread as the median over it and the points just before: a small sample's MAD is noisy."""
    smoothed = scale.copy()
    for index in range(len(scale)):
        window = scale[max(0, index - SCALE_POINTS + 1) : index + 1]
        window = window[np.isfinite(window)]
        if len(window):
            smoothed[index] = float(np.median(window))
    return smoothed


def detect_seasonal(series: Series) -> Detection:
    count = len(series)
    values = series.values
    expected = np.full(count, np.nan)
    scale = np.full(count, np.nan)
    order, lows, highs = seasonal_windows(series)
    floor = robust_scale_floor(values[: series.learning])
    for index in range(1, count):
        neighbours = neighbour_indices(index, order, lows, highs)
        if len(neighbours) < MIN_SAMPLE:
            neighbours = np.arange(max(0, index - RECENT_POINTS), index)
        sample = values[neighbours]
        median = float(np.median(sample))
        expected[index] = median
        # a point's distance from a sample median also carries the median's own error, pi/2 sigma^2 / n
        spread = (
            MAD_TO_SIGMA
            * float(np.median(np.abs(sample - median)))
            * math.sqrt(1 + math.pi / (2 * len(sample)))
        )
        scale[index] = max(spread, floor)
    scale = smoothed_scale(scale)
    z = np.abs(values - expected) / scale
    z = np.nan_to_num(z, nan=0.0)
    score = z / (z + Z_DECISION)
    return Detection(
        score=score,
        is_anomaly=z >= Z_DECISION,
        expected=expected,
        lower=expected - Z_DECISION * scale,
        upper=expected + Z_DECISION * scale,
    )

"""The unseen-context detector: how unlike anything before the recent sequence of values is.

After CAD OSE's contexts and HTM's anomaly likelihood, both among NAB's best detectors. Each
value is cut into one of `bands` equal bands of the learning period's range (one more band below
it and one above); the context of a point is the run of its band and the bands of the points just
before it, for every length from 1 to `context_points`. The raw score of a point is the share of
its contexts that no earlier point had. One unseen context means little in a noisy series, so the
question is whether they come thicker than usual: the mean raw score of the last `recent_points`
points is compared with the distribution of that mean over the past (at most `HISTORY_POINTS`),
and the tail probability beyond it is one minus HTM's anomaly likelihood. A tail of `alarm_tail`
or less is an alarm, then `hold_steps` steps of quiet. It needs no training and sees a changed
pattern at levels already visited (a burst of unusual wiggles, a new shape); it does not see a
rare value inside an ordinary pattern, which the new-extremes detector does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from anomalies.timeseries import Detection, Series, hold_alarms

# HTM's history of a month of 5-minute points.
HISTORY_POINTS = 8640
# The least spread of the recent mean, so that a past of identical means does not make any change certain.
MIN_SPREAD = 1e-4


@dataclass(frozen=True)
class ContextSettings:
    bands: int = 10
    # CAD OSE's longest context.
    context_points: int = 7
    recent_points: int = 20
    # HTM's alarm: an anomaly likelihood of 1 - 1e-5.
    alarm_tail: float = 1e-5
    hold_steps: int = 50


DEFAULT_SETTINGS = ContextSettings()


def bands(values: np.ndarray, learning: int, count: int) -> np.ndarray:
    """Each value's band: 1..count across the learning range, 0 below it, count + 1 above it."""
    low, high = float(values[:learning].min()), float(values[:learning].max())
    position = np.floor((values - low) / max(high - low, 1e-12) * count)
    return np.clip(position, -1, count).astype(np.int64) + 1


def unseen_share(band: np.ndarray, longest: int) -> np.ndarray:
    """Per point, the share of its contexts (lengths 1..longest) that no earlier point had."""
    count = len(band)
    # any base above the largest band encodes contexts one to one
    base = int(band.max()) + 1
    unseen = np.zeros(count)
    code = np.zeros(count, dtype=np.int64)
    for length in range(1, longest + 1):
        # the context of this length ending at each point, as one integer in base `base`
        code[length - 1 :] = code[length - 1 :] * base + band[: count - length + 1]
        code[: length - 1] = -1
        _, first = np.unique(code[length - 1 :], return_index=True)
        unseen[first + length - 1] += 1.0
    return unseen / longest


def tail_probability(raw: np.ndarray, recent_points: int) -> np.ndarray:
    """Per point, the probability of a mean of the last `recent_points` raw scores at least as high as its.

    The reference is a normal distribution fitted to that mean at the earlier points (at most
    HISTORY_POINTS of them); the first point has no past and gets 0.5.
    """
    count = len(raw)
    sums = np.concatenate(([0.0], np.cumsum(raw)))
    ends = np.arange(1, count + 1)
    recent = (sums[ends] - sums[np.maximum(0, ends - recent_points)]) / np.minimum(ends, recent_points)
    first = np.concatenate(([0.0], np.cumsum(recent)))
    second = np.concatenate(([0.0], np.cumsum(recent * recent)))
    stop = np.arange(count)
    start = np.maximum(0, stop - HISTORY_POINTS)
    seen = np.maximum(stop - start, 1)
    mean = (first[stop] - first[start]) / seen
    variance = np.maximum((second[stop] - second[start]) / seen - mean * mean, 0.0)
    z = (recent - mean) / np.maximum(np.sqrt(variance), MIN_SPREAD)
    z[0] = 0.0
    return np.array([0.5 * math.erfc(value / math.sqrt(2.0)) for value in z])


def detect_context(series: Series, settings: ContextSettings = DEFAULT_SETTINGS) -> Detection:
    band = bands(series.values, series.learning, settings.bands)
    tail = tail_probability(unseen_share(band, settings.context_points), settings.recent_points)
    # score = log(tail) / log(alarm_tail²): 0.5 at the alarm's tail, 1 at its square and below
    floor = settings.alarm_tail**2
    raw = np.log(np.maximum(tail, floor)) / math.log(floor)
    score, is_anomaly = hold_alarms(series, raw, tail <= settings.alarm_tail, settings.hold_steps)
    nothing = np.full(len(series), np.nan)
    return Detection(
        score=score, is_anomaly=is_anomaly, expected=nothing, lower=nothing, upper=nothing.copy()
    )

"""The unseen-context detector: how unlike anything before the recent sequence of values is.

After CAD OSE's contexts and HTM's anomaly likelihood, both among NAB's best detectors. Each
value is cut into one of `BANDS` equal bands of the learning period's range (one more band below
it and one above); the context of a point is the run of its band and the bands of the points just
before it, for every length from 1 to `CONTEXT_POINTS`. The raw score of a point is the share of
its contexts that no earlier point had. One unseen context means little in a noisy series, so the
question is whether they come thicker than usual: the mean raw score of the last `RECENT_POINTS`
points is compared with the distribution of that mean over the past (at most `HISTORY_POINTS`),
and the tail probability beyond it is one minus HTM's anomaly likelihood. A tail of 1e-5 or less is
an alarm, then `HOLD_STEPS` steps of quiet. It needs no training and sees a changed pattern at
levels already visited (a burst of unusual wiggles, a new shape); it does not see a rare value
inside an ordinary pattern, which the new-extremes detector does.
"""

from __future__ import annotations

import math

import numpy as np

from anomalies.timeseries import Detection, Series, hold_alarms

BANDS = 10
# CAD OSE's longest context.
CONTEXT_POINTS = 7
RECENT_POINTS = 20
# HTM's history of a month of 5-minute points, and its alarm at a likelihood of 1 - 1e-5.
HISTORY_POINTS = 8640
ALARM_TAIL = 1e-5
HOLD_STEPS = 50
# The least spread of the recent mean, so that a past of identical means does not make any change certain.
MIN_SPREAD = 1e-4
# score = log(tail) / log(SCORE_TAIL): 0.5 at the alarm's tail of 1e-5, 1 at 1e-10 and below.
SCORE_TAIL = ALARM_TAIL**2


def bands(values: np.ndarray, learning: int) -> np.ndarray:
    """Each value's band: 1..BANDS across the learning range, 0 below it, BANDS + 1 above it."""
    low, high = float(values[:learning].min()), float(values[:learning].max())
    position = np.floor((values - low) / max(high - low, 1e-12) * BANDS)
    return np.clip(position, -1, BANDS).astype(np.int64) + 1


def unseen_share(band: np.ndarray, longest: int = CONTEXT_POINTS) -> np.ndarray:
    """Per point, the share of its contexts (lengths 1..longest) that no earlier point had."""
    count = len(band)
    unseen = np.zeros(count)
    code = np.zeros(count, dtype=np.int64)
    for length in range(1, longest + 1):
        # the context of length L ending at t, as one integer in base BANDS + 2 (exact below 12**17)
        code[length - 1 :] = code[length - 1 :] * (BANDS + 2) + band[: count - length + 1]
        code[: length - 1] = -1
        _, first = np.unique(code[length - 1 :], return_index=True)
        unseen[first + length - 1] += 1.0
    return unseen / longest


def tail_probability(raw: np.ndarray) -> np.ndarray:
    """Per point, the probability of a mean of the last RECENT_POINTS raw scores at least as high as its.

    The reference is a normal distribution fitted to that mean at the earlier points (at most
    HISTORY_POINTS of them); the first point has no past and gets 0.5. One minus it is HTM's
    anomaly likelihood.
    """
    count = len(raw)
    sums = np.concatenate(([0.0], np.cumsum(raw)))
    ends = np.arange(1, count + 1)
    recent = (sums[ends] - sums[np.maximum(0, ends - RECENT_POINTS)]) / np.minimum(ends, RECENT_POINTS)
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


def detect_context(series: Series) -> Detection:
    tail = np.maximum(tail_probability(unseen_share(bands(series.values, series.learning))), SCORE_TAIL)
    raw = np.log(tail) / math.log(SCORE_TAIL)
    score, is_anomaly = hold_alarms(series, raw, tail <= ALARM_TAIL, HOLD_STEPS)
    nothing = np.full(len(series), np.nan)
    return Detection(
        score=score, is_anomaly=is_anomaly, expected=nothing, lower=nothing, upper=nothing.copy()
    )

"""The new-extremes detector: how far a point, or its recent level, lies beyond all of the past.

Many incidents in operational metrics first show as a value the series has never reached: a CPU
higher than ever, traffic lower than ever. The excess beyond the past range, measured in units
of that range, is the score's basis; a value inside the range scores 0. The same is asked of the
mean of the last `LEVEL_POINTS` points, which catches a shift that no single point makes extreme.
A third question catches a value at a level never visited, even inside the range: the learning
period's range is cut into `LEVELS` equal bands, and a point in a band no earlier point was in is
anomalous. A fourth catches a metric that stops moving: a run of one repeated value, at least
`FLAT_POINTS` long, that grows longer than every earlier run (one alarm per run). After an alarm
the first two questions stay quiet for a while (an hour's worth of steps for extremes,
`LEVEL_HOLD_STEPS` for new levels). It needs no training and no seasonality, and it cannot see an
anomaly that stays inside the range (a missing peak, a dip to an ordinary night level): the
seasonal baseline and the LSTM see those.
"""

from __future__ import annotations

import numpy as np

from anomalies.timeseries import Detection, Series, hold_alarms

# score = tanh(SHARPNESS * excess); a point is anomalous from DECISION_SCORE on, i.e. an excess of
# about 5% of the past range.
SHARPNESS = 5.0
DECISION_SCORE = 0.23
LEVEL_POINTS = 24
# After an alarm, an hour of 5-minute steps without another: one incident, one alarm.
HOLD_STEPS = 12
# The learning range in this many bands; a first visit to a band is an alarm with this score.
LEVELS = 6
LEVEL_SCORE = 0.3
LEVEL_HOLD_STEPS = 100
# The shortest flat run worth an alarm: an hour of 5-minute steps, as for the hold.
FLAT_POINTS = 12


def past_range(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest value before each point (nan for the first)."""
    low = np.full(len(values), np.nan)
    high = np.full(len(values), np.nan)
    low[1:] = np.minimum.accumulate(values)[:-1]
    high[1:] = np.maximum.accumulate(values)[:-1]
    return low, high


def excess_beyond_past(values: np.ndarray) -> np.ndarray:
    """How far each value lies outside the range of the values before it, in units of that range."""
    low, high = past_range(values)
    span = np.maximum(high - low, 1e-9 * (1.0 + np.abs(high)))
    return np.nan_to_num(np.maximum(np.maximum(values - high, low - values), 0.0) / span, nan=0.0)


def trailing_mean(values: np.ndarray, points: int) -> np.ndarray:
    """The mean of each point and the points - 1 before it (fewer at the start)."""
    sums = np.concatenate(([0.0], np.cumsum(values)))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - points)
    return (sums[ends] - sums[starts]) / (ends - starts)


def first_visits(values: np.ndarray, learning: int) -> np.ndarray:
    """True where a value falls in a band (of the learning range cut in LEVELS) no earlier value fell in."""
    low, high = float(values[:learning].min()), float(values[:learning].max())
    # beyond the learning range is the extremes question's
    bands = np.clip(np.floor((values - low) / max(high - low, 1e-12) * LEVELS), 0, LEVELS - 1).astype(
        np.int64
    )
    _, first = np.unique(bands, return_index=True)
    visits = np.zeros(len(values), dtype=bool)
    visits[first] = True
    return visits


def flat_records(values: np.ndarray) -> np.ndarray:
    """True where a run of one repeated value grows longer than every earlier run (and FLAT_POINTS): once a run."""
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    lengths = np.diff(np.append(starts, len(values)))
    record = np.concatenate(([0], np.maximum.accumulate(lengths)[:-1]))
    alarm_length = np.maximum(record, FLAT_POINTS - 1) + 1
    records = np.zeros(len(values), dtype=bool)
    breaking = lengths >= alarm_length
    records[starts[breaking] + alarm_length[breaking] - 1] = True
    return records


def detect_novelty(series: Series) -> Detection:
    values = series.values
    low, high = past_range(values)
    excess = np.maximum(excess_beyond_past(values), excess_beyond_past(trailing_mean(values, LEVEL_POINTS)))
    raw = np.tanh(SHARPNESS * excess)
    extreme_score, extreme = hold_alarms(series, raw, raw >= DECISION_SCORE, HOLD_STEPS)
    visits = first_visits(values, series.learning)
    level_score, new_level = hold_alarms(series, LEVEL_SCORE * visits, visits, LEVEL_HOLD_STEPS)
    flat = flat_records(values)
    score = np.maximum(np.maximum(extreme_score, level_score), LEVEL_SCORE * flat)
    is_anomaly = extreme | new_level | flat
    return Detection(
        score=score,
        is_anomaly=is_anomaly,
        expected=np.clip(values, low, high),
        lower=low,
        upper=high,
    )

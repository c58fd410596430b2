"""The new-extremes detector: how far a point lies beyond the range of every point before it.

Many incidents in operational metrics first show as a value the series has never reached: a CPU
higher than ever, traffic lower than ever. The excess beyond the past range, measured in units
of that range, is the score's basis; a value inside the range scores 0. It needs no training and
no seasonality, and it cannot see an anomaly that stays inside the range (a missing peak, a dip
to an ordinary night level): the seasonal baseline and the LSTM see those.
"""

from __future__ import annotations

import numpy as np

from anomalies.timeseries import Detection, Series

# score = tanh(SHARPNESS * excess); a point is anomalous from DECISION_SCORE on, i.e. an excess of
# about half a percent of the past range.
SHARPNESS = 5.0
DECISION_SCORE = 0.025


def past_range(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest value before each point (nan for the first)."""
    low = np.full(len(values), np.nan)
    high = np.full(len(values), np.nan)
    low[1:] = np.minimum.accumulate(values)[:-1]
    high[1:] = np.maximum.accumulate(values)[:-1]
    return low, high


def detect_novelty(series: Series) -> Detection:
    values = series.values
    low, high = past_range(values)
    span = np.maximum(high - low, 1e-9 * (1.0 + np.abs(high)))
    excess = np.nan_to_num(np.maximum(np.maximum(values - high, low - values), 0.0) / span, nan=0.0)
    score = np.tanh(SHARPNESS * excess)
    return Detection(
        score=score,
        is_anomaly=score >= DECISION_SCORE,
        expected=np.clip(values, low, high),
        lower=low,
        upper=high,
    )

"""The ensemble: new extremes everywhere, and the seasonal baseline where the series has a rhythm.

The seasonal baseline is trusted only when the learning period shows the rhythm it models: at
least a day of points with a seasonal sample, whose seasonal median explains at least half of the
spread. Then a point is anomalous when either detector says so, and the band is the seasonal
one; otherwise the ensemble is the new-extremes detector alone.
"""

from __future__ import annotations

import numpy as np

from anomalies import novelty, seasonal
from anomalies.timeseries import Detection, Series

MIN_RHYTHM = 0.5
MIN_RHYTHM_SECONDS = 86_400.0


def has_rhythm(series: Series) -> bool:
    strength, points = seasonal.rhythm_strength(series)
    return points * series.step >= MIN_RHYTHM_SECONDS and strength >= MIN_RHYTHM


def detect_ensemble(series: Series) -> Detection:
    extremes = novelty.detect_novelty(series)
    if not has_rhythm(series):
        return extremes
    rhythm = seasonal.detect_seasonal(series)
    return Detection(
        score=np.maximum(extremes.score, rhythm.score),
        is_anomaly=extremes.is_anomaly | rhythm.is_anomaly,
        expected=rhythm.expected,
        lower=rhythm.lower,
        upper=rhythm.upper,
    )

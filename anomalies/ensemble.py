"""The ensemble: new extremes and unseen contexts everywhere, the seasonal baseline where the series has a rhythm.

A point is anomalous when any member says so. `novelty` and `context` run on every series;
`context`'s alarms carry novelty's fixed score for a yes-or-no question, so that one threshold
serves both (its own score is on another scale). The seasonal baseline is trusted only when the
learning period shows the rhythm it models: at least a day of points with a seasonal sample, whose
seasonal median explains at least half of the spread; then the band is the seasonal one,
otherwise novelty's.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from anomalies import context, novelty, seasonal
from anomalies.timeseries import Detection, Series

MIN_RHYTHM = 0.5
MIN_RHYTHM_SECONDS = 86_400.0


def has_rhythm(series: Series) -> bool:
    strength, points = seasonal.rhythm_strength(series)
    return points * series.step >= MIN_RHYTHM_SECONDS and strength >= MIN_RHYTHM


def combine(extremes: Detection, contexts: Detection, rhythm: Optional[Detection]) -> Detection:
    """The members' alarms together; `rhythm` is the seasonal baseline's, or None where it is not trusted."""
    score = np.maximum(extremes.score, novelty.LEVEL_SCORE * contexts.is_anomaly)
    is_anomaly = extremes.is_anomaly | contexts.is_anomaly
    if rhythm is None:
        return Detection(
            score=score,
            is_anomaly=is_anomaly,
            expected=extremes.expected,
            lower=extremes.lower,
            upper=extremes.upper,
        )
    return Detection(
        score=np.maximum(score, rhythm.score),
        is_anomaly=is_anomaly | rhythm.is_anomaly,
        expected=rhythm.expected,
        lower=rhythm.lower,
        upper=rhythm.upper,
    )


def detect_ensemble(series: Series) -> Detection:
    rhythm = seasonal.detect_seasonal(series) if has_rhythm(series) else None
    return combine(novelty.detect_novelty(series), context.detect_context(series), rhythm)

"""Anomalies in one metric series: every point gets a score in [0, 1] and a decision, causally.

`detect(timestamps, values)` is the one entry point. A point's score uses only the points before
it (as a live monitor would see them), and the first `learning_points` points only teach: no
decisions there. Each detector lives in its own module and is chosen by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Optional, Union

import numpy as np

# The shortest past a detector may learn from, and NAB's learning rule: 15% of the series, at most 750 points.
MIN_LEARNING_POINTS = 24
LEARNING_FRACTION = 0.15
MAX_DEFAULT_LEARNING_POINTS = 750


class SeriesError(ValueError):
    """A series no detector can read: too short, not numeric, timestamps that are not times."""


@dataclass(frozen=True)
class Detection:
    """Per input point, in input order."""

    score: np.ndarray  # float in [0, 1]
    is_anomaly: np.ndarray  # bool; always False during the learning period
    expected: np.ndarray  # the detector's expected value (nan where it has none)
    lower: np.ndarray  # lower edge of the normal band (nan where none)
    upper: np.ndarray  # upper edge of the normal band (nan where none)


@dataclass(frozen=True)
class Series:
    """A validated series as the detectors see it."""

    seconds: np.ndarray  # epoch seconds per point, float, input order
    values: np.ndarray  # float per point
    step: float  # the regular spacing in seconds (inferred unless given)
    learning: int  # points at the start that only teach

    def __len__(self) -> int:
        return len(self.values)


def epoch_seconds(timestamps: Union[Sequence[datetime], Sequence[str], np.ndarray]) -> np.ndarray:
    """Epoch seconds of datetimes (naive ones are UTC), ISO-8601 strings, datetime64 or numbers."""
    array = np.asarray(timestamps)
    if array.ndim != 1:
        raise SeriesError("timestamps must be one-dimensional")
    if np.issubdtype(array.dtype, np.datetime64):
        if np.isnat(array).any():
            raise SeriesError(f"timestamp {int(np.argmax(np.isnat(array))) + 1} is missing")
        return array.astype("datetime64[ms]").astype(np.int64).astype(float) / 1000.0
    if np.issubdtype(array.dtype, np.number):
        return array.astype(float)
    seconds = np.empty(len(array))
    for index, item in enumerate(array.tolist()):
        seconds[index] = _one_epoch_second(item, index)
    return seconds


def _one_epoch_second(item: object, index: int) -> float:
    if isinstance(item, datetime):
        moment = item
    elif isinstance(item, str):
        try:
            moment = datetime.fromisoformat(item.strip().replace("Z", "+00:00"))
        except ValueError:
            raise SeriesError(f"timestamp {index + 1} is not a time: {item!r}") from None
    else:
        raise SeriesError(f"timestamp {index + 1} is not a time: {item!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def infer_step(seconds: np.ndarray) -> float:
    """The series' spacing: the median positive gap (repeated timestamps and gaps do not move it)."""
    gaps = np.diff(np.sort(seconds))
    gaps = gaps[gaps > 0]
    if len(gaps) == 0:
        raise SeriesError("the timestamps never advance, so the series has no step")
    return float(np.median(gaps))


def prepare(
    timestamps: Union[Sequence[datetime], np.ndarray],
    values: np.ndarray,
    *,
    learning_points: Optional[int] = None,
    step_seconds: Optional[float] = None,
) -> Series:
    """Validate and convert the inputs; every bad input raises SeriesError with a readable reason."""
    try:
        numbers = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise SeriesError("values are not all numbers") from None
    if numbers.ndim != 1:
        raise SeriesError("values must be one-dimensional")
    if not np.isfinite(numbers).all():
        bad = int(np.argmax(~np.isfinite(numbers)))
        raise SeriesError(f"value {bad + 1} is not a finite number: {numbers[bad]!r}")
    seconds = epoch_seconds(timestamps)
    if len(seconds) != len(numbers):
        raise SeriesError(f"{len(seconds)} timestamps for {len(numbers)} values")
    count = len(numbers)
    if learning_points is None:
        learning = min(math.floor(LEARNING_FRACTION * count), MAX_DEFAULT_LEARNING_POINTS)
        learning = max(learning, MIN_LEARNING_POINTS)
    else:
        learning = int(learning_points)
    if learning < MIN_LEARNING_POINTS:
        raise SeriesError(
            f"a learning period of {learning} points is too short (at least {MIN_LEARNING_POINTS})"
        )
    if count <= learning:
        raise SeriesError(
            f"the series has {count} points: too short to learn from {learning} and then decide on the rest"
        )
    step = infer_step(seconds) if step_seconds is None else float(step_seconds)
    if not step > 0:
        raise SeriesError(f"the step must be a positive number of seconds, not {step_seconds!r}")
    return Series(seconds=seconds, values=numbers, step=step, learning=learning)


def hold_alarms(
    series: Series, score: np.ndarray, alarm: np.ndarray, hold_steps: float
) -> tuple[np.ndarray, np.ndarray]:
    """One alarm per incident: after a decided alarm, `hold_steps` steps of quiet (score 0, no alarm)."""
    held = score.copy()
    decided = np.zeros(len(score), dtype=bool)
    quiet_until = -np.inf
    for index in range(series.learning, len(score)):
        if series.seconds[index] < quiet_until:
            held[index] = 0.0
        elif alarm[index]:
            decided[index] = True
            quiet_until = series.seconds[index] + hold_steps * series.step
    return held, decided


def _seasonal(series: Series) -> Detection:
    from anomalies import seasonal

    return seasonal.detect_seasonal(series)


def _lstm(series: Series) -> Detection:
    from anomalies import forecaster

    return forecaster.detect_lstm(series)


def _novelty(series: Series) -> Detection:
    from anomalies import novelty

    return novelty.detect_novelty(series)


def _context(series: Series) -> Detection:
    from anomalies import context

    return context.detect_context(series)


def _ensemble(series: Series) -> Detection:
    from anomalies import ensemble

    return ensemble.detect_ensemble(series)


_IMPLEMENTATIONS: dict[str, Callable[[Series], Detection]] = {
    "ensemble": _ensemble,
    "novelty": _novelty,
    "context": _context,
    "lstm": _lstm,
    "seasonal": _seasonal,
}

DETECTORS: tuple[str, ...] = tuple(_IMPLEMENTATIONS)
# The best NAB score (docs/timeseries.md); it also finds every planted kind.
DEFAULT_DETECTOR: str = "ensemble"


def detect(
    timestamps: Union[Sequence[datetime], np.ndarray],
    values: np.ndarray,
    *,
    detector: str = DEFAULT_DETECTOR,
    learning_points: Optional[int] = None,
    step_seconds: Optional[float] = None,
) -> Detection:
    """Score every point of one series with the named detector (see DETECTORS)."""
    if detector not in _IMPLEMENTATIONS:
        raise SeriesError(f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    series = prepare(timestamps, values, learning_points=learning_points, step_seconds=step_seconds)
    result = _IMPLEMENTATIONS[detector](series)
    is_anomaly = result.is_anomaly.copy()
    is_anomaly[: series.learning] = False
    return Detection(
        score=np.clip(result.score, 0.0, 1.0),
        is_anomaly=is_anomaly,
        expected=result.expected,
        lower=result.lower,
        upper=result.upper,
    )

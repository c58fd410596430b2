"""Metric series shaped like the request-log simulator's, with anomalies planted at known places.

A day has a morning and an evening peak over a night trough, weekends are quieter, and counts are
Poisson noise around that shape. The planted kinds are what an analyst would want flagged: a
spike, a dip, a level shift and a missing peak (the evening rush that never came).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DAY = 86_400
START = np.datetime64("2026-01-05T00:00:00", "s")  # a Monday
KINDS = ("spike", "dip", "level_shift", "missing_peak")


@dataclass(frozen=True)
class PlantedSeries:
    name: str
    timestamps: np.ndarray  # datetime64[s]
    values: np.ndarray
    # (kind, first index, last index) of each planted anomaly
    anomalies: list[tuple[str, int, int]] = field(default_factory=list)


def daily_shape(seconds_of_day: np.ndarray) -> np.ndarray:
    """Relative traffic over a day: a night trough, a morning peak at 9:00 and an evening one at 19:00."""
    hours = seconds_of_day / 3600.0
    morning = np.exp(-0.5 * ((hours - 9.0) / 1.5) ** 2)
    evening = 1.2 * np.exp(-0.5 * ((hours - 19.0) / 2.0) ** 2)
    return 0.25 + morning + evening


def rhythm(timestamps: np.ndarray, level: float) -> np.ndarray:
    """The expected count at each time: the daily shape, scaled down on weekends."""
    seconds = (timestamps - np.datetime64("1970-01-01T00:00:00", "s")).astype(np.int64)
    weekday = ((seconds // DAY) + 3) % 7  # 1970-01-01 was a Thursday; 0 is Monday
    weekend = np.where(weekday >= 5, 0.6, 1.0)
    return level * weekend * daily_shape((seconds % DAY).astype(float))


def clean_series(days: int = 14, step_minutes: int = 5, level: float = 200.0, seed: int = 0) -> PlantedSeries:
    """The rhythm with Poisson noise and nothing planted."""
    rng = np.random.default_rng(seed)
    count = days * DAY // (step_minutes * 60)
    timestamps = START + np.arange(count) * np.timedelta64(step_minutes * 60, "s")
    values = rng.poisson(rhythm(timestamps, level)).astype(float)
    return PlantedSeries(name=f"clean_{step_minutes}min", timestamps=timestamps, values=values)


def planted_series(
    kind: str, days: int = 14, step_minutes: int = 5, level: float = 200.0, seed: int = 0
) -> PlantedSeries:
    """A clean series with one anomaly of `kind` planted on its last-but-two day."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    clean = clean_series(days, step_minutes, level, seed)
    rng = np.random.default_rng(seed + 1)
    values = clean.values.copy()
    per_hour = 60 // step_minutes
    day_start = (days - 3) * 24 * per_hour
    expected = rhythm(clean.timestamps, level)
    if kind == "spike":  # a burst of three times the usual traffic for 15 minutes at 14:00
        first, last = day_start + 14 * per_hour, day_start + 14 * per_hour + max(1, per_hour // 4) - 1
        values[first : last + 1] = rng.poisson(3.0 * expected[first : last + 1])
    elif kind == "dip":  # traffic falls to a fifth for half an hour at 10:00
        first, last = day_start + 10 * per_hour, day_start + 10 * per_hour + max(1, per_hour // 2) - 1
        values[first : last + 1] = rng.poisson(0.2 * expected[first : last + 1])
    elif kind == "level_shift":  # from 12:00 on, 60% more traffic to the end of the series
        first, last = day_start + 12 * per_hour, len(values) - 1
        values[first:] = rng.poisson(1.6 * expected[first:])
    else:  # the evening peak (17:00-21:00) stays at the afternoon's level
        first, last = day_start + 17 * per_hour, day_start + 21 * per_hour - 1
        flat = expected[first] * np.ones(last - first + 1)
        values[first : last + 1] = rng.poisson(np.minimum(flat, expected[first : last + 1]))
    return PlantedSeries(
        name=f"{kind}_{step_minutes}min",
        timestamps=clean.timestamps,
        values=values,
        anomalies=[(kind, first, last)],
    )

"""The time-series detectors: planted anomalies found, a clean rhythm left alone, decisions causal."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from anomalies import planted, timeseries
from anomalies.timeseries import SeriesError, detect

LEARNING = 7 * 288  # a week of 5-minute points
DAYS = 10
# What each detector is built to see: new extremes only see what leaves the past range; a one-step
# forecast follows a slowly missing peak.
FINDS = {
    "seasonal": planted.KINDS,
    "lstm": ("spike", "dip", "level_shift"),
    "novelty": ("level_shift",),
}
# Each detector's runs, the LSTM's training included, take seconds.
DETECTORS = [
    pytest.param(name, marks=pytest.mark.slow) if name == "lstm" else name for name in timeseries.DETECTORS
]


def alarms_in(detection, first: int, last: int, slack: int = 12) -> int:
    return int(detection.is_anomaly[first : last + 1 + slack].sum())


def test_every_detector_states_what_it_finds():
    assert set(FINDS) == set(timeseries.DETECTORS)
    assert timeseries.DEFAULT_DETECTOR in timeseries.DETECTORS


@pytest.mark.parametrize("detector", [d for d in DETECTORS if d != "novelty"])
def test_a_clean_seasonal_series_raises_no_alarm(detector):
    series = planted.clean_series(days=DAYS, seed=3)
    detection = detect(series.timestamps, series.values, detector=detector, learning_points=LEARNING)
    assert detection.is_anomaly.sum() == 0
    assert detection.score.min() >= 0.0 and detection.score.max() <= 1.0


@pytest.mark.parametrize(
    ("detector", "kind"),
    [
        pytest.param(name, kind, marks=pytest.mark.slow) if name == "lstm" else (name, kind)
        for name in timeseries.DETECTORS
        for kind in FINDS[name]
    ],
)
def test_each_planted_anomaly_is_found(detector, kind):
    series = planted.planted_series(kind, days=DAYS, seed=5)
    detection = detect(series.timestamps, series.values, detector=detector, learning_points=LEARNING)
    (_, first, last) = series.anomalies[0]
    assert alarms_in(detection, first, last) >= 1, f"{detector} missed the {kind}"
    outside = detection.is_anomaly.copy()
    outside[first : last + 1 + 12] = False
    # a level shift lasts to the end; the other kinds leave the rest of the series alone
    if kind != "level_shift":
        assert outside.sum() <= 2


def test_novelty_flags_a_value_beyond_the_past_range_only():
    times = np.arange(400) * 60.0
    values = np.tile([1.0, 2.0, 3.0, 2.0], 100)
    values[300], values[350] = 3.5, 2.5  # a new high; an ordinary value
    detection = detect(times, values, detector="novelty", learning_points=100)
    assert np.flatnonzero(detection.is_anomaly).tolist() == [300]
    assert detection.upper[300] == 3.0 and detection.expected[300] == 3.0


@pytest.mark.parametrize("detector", DETECTORS)
def test_appending_future_points_never_changes_an_earlier_decision(detector):
    series = planted.planted_series("spike", days=DAYS, seed=8)
    cut = len(series.values) - 400
    full = detect(series.timestamps, series.values, detector=detector, learning_points=LEARNING)
    prefix = detect(series.timestamps[:cut], series.values[:cut], detector=detector, learning_points=LEARNING)
    np.testing.assert_array_equal(prefix.is_anomaly, full.is_anomaly[:cut])
    np.testing.assert_allclose(prefix.score, full.score[:cut])
    np.testing.assert_allclose(prefix.expected, full.expected[:cut])


def test_the_learning_period_makes_no_decision():
    series = planted.planted_series("spike", days=DAYS, seed=1)
    (_, first, _) = series.anomalies[0]
    detection = detect(series.timestamps, series.values, detector="seasonal", learning_points=first + 50)
    assert not detection.is_anomaly[: first + 50].any()


def test_repeated_timestamps_and_gaps_are_handled():
    series = planted.planted_series("spike", days=14, seed=2)
    (_, first, last) = series.anomalies[0]
    keep = np.ones(len(series.values), dtype=bool)
    keep[first - 300 : first - 200] = False  # a gap of over eight hours
    timestamps = series.timestamps.copy()
    timestamps[100] = timestamps[99]  # a repeated timestamp
    timestamps, values = timestamps[keep], series.values[keep]
    detection = detect(timestamps, values, detector="seasonal", learning_points=LEARNING)
    assert len(detection.score) == len(values)
    shifted_first = first - 100
    assert detection.is_anomaly[shifted_first : shifted_first + (last - first) + 12].any()


def test_datetimes_and_strings_are_read_like_datetime64():
    start = datetime(2026, 1, 5)
    times = [start + timedelta(minutes=5 * k) for k in range(300)]
    values = np.sin(np.arange(300) / 10.0) + 5.0
    from_datetimes = detect(times, values, learning_points=100)
    from_strings = detect([t.isoformat() for t in times], values, learning_points=100)
    from_numpy = detect(np.array(times, dtype="datetime64[s]"), values, learning_points=100)
    np.testing.assert_allclose(from_datetimes.score, from_strings.score)
    np.testing.assert_allclose(from_datetimes.score, from_numpy.score)


@pytest.mark.parametrize(
    ("timestamps", "values", "message"),
    [
        (["2026-01-01T00:00:00"] * 3, [1.0, 2.0, 3.0], "too short"),
        (["yesterday"] * 100, list(range(100)), "not a time"),
        ([f"2026-01-01T00:{m:02d}:00" for m in range(50)], ["x"] * 50, "not all numbers"),
        ([f"2026-01-01T00:{m:02d}:00" for m in range(50)], [1.0] * 49 + [float("nan")], "not a finite"),
        (["2026-01-01T00:00:00"] * 60, list(range(60)), "never advance"),
    ],
)
def test_unreadable_series_raise_a_series_error(timestamps, values, message):
    with pytest.raises(SeriesError, match=message):
        detect(timestamps, np.asarray(values, dtype=object), learning_points=24)


def test_an_unknown_detector_is_named_in_the_error():
    with pytest.raises(SeriesError, match="unknown detector 'nope'"):
        detect(np.arange(100) * 60.0, np.ones(100), detector="nope")


def test_the_default_learning_period_follows_the_nab_rule():
    assert timeseries.prepare(np.arange(4000) * 300.0, np.ones(4000)).learning == 600
    assert timeseries.prepare(np.arange(10_000) * 300.0, np.ones(10_000)).learning == 750

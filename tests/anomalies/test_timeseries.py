"""The time-series detectors: planted anomalies found, a clean rhythm left alone, decisions causal."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from anomalies import context, ensemble, novelty, planted, timeseries
from anomalies.timeseries import SeriesError, detect

LEARNING = 7 * 288  # a week of 5-minute points
DAYS = 10
# What each detector is built to see: new extremes only see what leaves the past range; a one-step
# forecast follows a slowly missing peak.
FINDS = {
    "ensemble": planted.KINDS,
    "seasonal": planted.KINDS,
    "lstm": ("spike", "dip", "level_shift"),
    "novelty": ("level_shift",),
    # unseen contexts do not stand out in the planted counts' noise; its own test plants a new shape
    "context": (),
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


@pytest.mark.parametrize("detector", DETECTORS)
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


def test_the_ensemble_trusts_the_seasonal_baseline_only_on_a_rhythm():
    rhythmic = planted.clean_series(days=DAYS, seed=2)
    rng = np.random.default_rng(2)
    walk = 100 + np.cumsum(rng.normal(0, 1, len(rhythmic.values)))
    assert ensemble.has_rhythm(
        timeseries.prepare(rhythmic.timestamps, rhythmic.values, learning_points=LEARNING)
    )
    assert not ensemble.has_rhythm(timeseries.prepare(rhythmic.timestamps, walk, learning_points=LEARNING))
    # too short a learning period to see a rhythm: new extremes alone
    short = timeseries.prepare(rhythmic.timestamps, rhythmic.values, learning_points=288)
    assert not ensemble.has_rhythm(short)


def test_novelty_flags_a_value_beyond_the_past_range_only():
    times = np.arange(400) * 60.0
    values = np.tile([1.0, 2.0, 3.0, 2.0], 100)
    values[300], values[350] = 3.5, 1.0  # a new high; an ordinary value out of its turn
    detection = detect(times, values, detector="novelty", learning_points=100)
    assert np.flatnonzero(detection.is_anomaly).tolist() == [300]
    assert detection.upper[300] == 3.0 and detection.expected[300] == 3.0


def test_novelty_flags_a_first_visit_to_a_level_inside_the_range():
    times = np.arange(400) * 60.0
    values = np.tile([1.0, 2.0, 3.0, 2.0], 100)  # levels 1, 2 and 3 only
    values[300], values[330] = 1.5, 1.6  # a level never visited; the same level again, inside the hold
    detection = detect(times, values, detector="novelty", learning_points=100)
    assert np.flatnonzero(detection.is_anomaly).tolist() == [300]
    assert detection.score[300] == novelty.LEVEL_SCORE


def test_after_an_alarm_the_novelty_detector_holds_its_peace_for_twelve_steps():
    times = np.arange(400) * 60.0
    values = np.tile([1.0, 2.0, 3.0, 2.0], 100)
    values[200], values[205], values[230] = 3.5, 4.0, 4.5  # three new highs, the second inside the hold
    detection = detect(times, values, detector="novelty", learning_points=100)
    assert np.flatnonzero(detection.is_anomaly).tolist() == [200, 230]
    assert detection.score[205] == 0.0


def test_novelty_flags_a_flat_run_longer_than_any_before_once():
    times = np.arange(600) * 60.0
    values = np.tile([1.0, 2.0, 3.0, 2.0], 150)
    # with the wave's own 2 just before each: runs of 11, then 41, then 13 points
    values[100:110] = 2.0  # in the learning period: the record to beat
    values[300:340] = 2.0  # a stopped metric at an ordinary level: an alarm on its twelfth point
    values[500:511] = 2.0  # longer than the first, shorter than the new record
    detection = detect(times, values, detector="novelty", learning_points=200)
    assert np.flatnonzero(detection.is_anomaly).tolist() == [299 + 11]
    assert novelty.flat_records(values[:300]).sum() == 0


def shape_change(seed: int, changed: bool) -> tuple[np.ndarray, np.ndarray]:
    """A noisy wave with 40 points that flicker between its extremes: no value outside its range."""
    rng = np.random.default_rng(seed)
    steps = np.arange(6000)
    values = np.sin(2 * np.pi * steps / 48) + rng.normal(0, 0.05, len(steps))
    if changed:
        values[5000:5040] = np.where(steps[:40] % 2 == 0, 0.9, -0.9) + rng.normal(0, 0.05, 40)
    return steps * 300.0, values


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_context_flags_a_new_shape_inside_the_usual_range_and_nothing_else(seed):
    times, values = shape_change(seed, changed=True)
    found = detect(times, values, detector="context", learning_points=500)
    alarms = np.flatnonzero(found.is_anomaly)
    assert len(alarms) == 1 and 5000 <= alarms[0] < 5040 + 12
    assert found.score[alarms[0]] >= 0.5
    # the values stay inside the past range, so new extremes alone do not see it; the ensemble does
    assert not detect(times, values, detector="novelty", learning_points=500).is_anomaly.any()
    assert detect(times, values, detector="ensemble", learning_points=500).is_anomaly[alarms[0]]
    clean = detect(*shape_change(seed, changed=False), detector="context", learning_points=500)
    assert not clean.is_anomaly.any()


def test_context_counts_the_unseen_contexts_of_each_length():
    band = np.array([1, 2, 1, 2, 3])
    # lengths 1 and 2: point 2 repeats band 1, point 3 the context (1, 2); point 4 is new in both
    np.testing.assert_allclose(context.unseen_share(band, longest=2), [0.5, 1.0, 0.5, 0.0, 1.0])


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

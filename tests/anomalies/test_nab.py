"""NAB's scoring on cases small enough to compute by hand, and on the 24 real files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from anomalies import nab

LOW_FN = nab.PROFILES[2]
NAB_ROOT = Path(__file__).resolve().parents[2] / "data" / "nab"


def one_window_file() -> nab.ScoredFile:
    """100 points a minute apart, one window over points 50-59 (10 points); points 0-14 probationary."""
    stamps = np.datetime64("2026-01-01T00:00:00", "s") + np.arange(100) * np.timedelta64(60, "s")
    return nab.prepare_file("f.csv", stamps, [(stamps[50], stamps[59])])


def detections(*indices: int) -> np.ndarray:
    flags = np.zeros(100, dtype=bool)
    flags[list(indices)] = True
    return flags


def test_the_scaled_sigmoid_at_its_landmarks():
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)  # 0.98661
    assert nab.scaled_sigmoid(0.0) == 0.0
    assert nab.scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(3.0) == -1.0


def test_the_probationary_period_is_fifteen_percent_capped_at_750():
    assert nab.probationary_length(4032) == 604
    assert nab.probationary_length(100) == 15
    assert nab.probationary_length(10_000) == 750


def test_a_detection_at_the_windows_first_point_earns_the_full_reward():
    assert nab.raw_score(one_window_file(), detections(50), nab.STANDARD) == pytest.approx(1.0)


def test_a_detection_at_the_windows_last_point_earns_little():
    # position -(59 - 59 + 1) / 10 = -0.1: (2 sigmoid(0.5) - 1) / 0.98661 = 0.24824
    expected = (2 / (1 + math.exp(-0.5)) - 1) / nab.MAX_TP
    assert nab.raw_score(one_window_file(), detections(59), nab.STANDARD) == pytest.approx(expected)
    assert expected == pytest.approx(0.24824, abs=1e-5)


def test_only_the_first_detection_in_a_window_counts():
    scored = one_window_file()
    # position -(59 - 52 + 1) / 10 = -0.8: tanh(2) / 0.98661 = 0.97711
    first_only = nab.raw_score(scored, detections(52), nab.STANDARD)
    assert first_only == pytest.approx(math.tanh(2.0) / nab.MAX_TP)
    assert nab.raw_score(scored, detections(52, 53, 58), nab.STANDARD) == pytest.approx(first_only)


def test_a_missed_window_costs_the_false_negative_weight():
    scored = one_window_file()
    assert nab.raw_score(scored, detections(), nab.STANDARD) == -1.0
    assert nab.raw_score(scored, detections(), LOW_FN) == -2.0


def test_a_false_positive_before_any_window_costs_the_full_weight():
    assert nab.raw_score(one_window_file(), detections(30, 50), nab.STANDARD) == pytest.approx(1.0 - 0.11)
    assert nab.raw_score(one_window_file(), detections(30, 50), nab.PROFILES[1]) == pytest.approx(1.0 - 0.22)


def test_a_false_positive_after_a_window_costs_by_its_distance():
    scored = one_window_file()
    # 9 points after the end, over width - 1 = 9: position 1, sigmoid factor -0.98661
    far = nab.raw_score(scored, detections(50, 68), nab.STANDARD) - 1.0
    assert far == pytest.approx(0.11 * (2 / (1 + math.exp(5)) - 1))
    # 1 point after: position 1/9, factor -tanh(5/18) = -0.27082: a near miss costs little
    near = nab.raw_score(scored, detections(50, 60), nab.STANDARD) - 1.0
    assert near == pytest.approx(-0.11 * math.tanh(5 / 18))


def test_detections_in_the_probationary_period_are_ignored():
    assert nab.raw_score(one_window_file(), detections(3, 10, 50), nab.STANDARD) == pytest.approx(1.0)


def test_the_sweep_picks_the_threshold_with_the_best_total():
    scored = one_window_file()
    score = np.zeros(100)
    score[30], score[52], score[80] = 0.9, 0.8, 0.5
    threshold, total = nab.sweep([scored], {"f.csv": score}, nab.STANDARD)
    # at 0.9: -0.11 - 1; at 0.8: -0.11 + 0.97711; at 0.5 another far FP costs 0.11; at 0 every point fires
    assert threshold == 0.8
    assert total == pytest.approx(-0.11 + math.tanh(2.0) / nab.MAX_TP)
    result = nab.score_corpus([scored], {"f.csv": score}, nab.STANDARD)
    assert result.score == pytest.approx(100 * (total + 1) / 2)
    assert result.per_file_raw["f.csv"] == pytest.approx(total)


def test_the_null_detector_scores_zero_and_a_perfect_one_100():
    scored = one_window_file()
    for profile in nab.PROFILES:
        assert nab.score_corpus([scored], {"f.csv": np.zeros(100)}, profile).score == 0.0
        perfect = detections(50).astype(float)
        assert nab.score_corpus([scored], {"f.csv": perfect}, profile).score == pytest.approx(100.0)


def test_on_the_24_files_null_scores_0_and_each_windows_first_point_100():
    corpus = nab.load_corpus(NAB_ROOT)
    assert len(corpus) == 24
    files = [nab.prepare_file(f.name, f.timestamps, f.windows) for f in corpus]
    perfect = {f.name: (np.diff(np.concatenate(([-1], f.window))) > 0).astype(float) for f in files}
    null = {f.name: np.zeros(len(f.window)) for f in files}
    for profile in nab.PROFILES:
        assert nab.score_corpus(files, null, profile).score == 0.0
        assert nab.score_corpus(files, perfect, profile).score == pytest.approx(100.0)


def test_a_half_judged_at_the_other_halfs_threshold_pays_for_a_threshold_not_fitted_to_it():
    from anomalies.evaluate_timeseries import held_out

    stamps = np.datetime64("2026-01-01T00:00:00", "s") + np.arange(100) * np.timedelta64(60, "s")
    files = [nab.prepare_file(f"{name}.csv", stamps, [(stamps[50], stamps[59])]) for name in "abcd"]
    scores = {}
    for index, scored in enumerate(files):
        score = np.zeros(100)
        # a and c (the even half) flag their window's first point at 0.9; b and d at 0.5, with a
        # false positive at 0.6 before it
        score[50] = 0.9 if index % 2 == 0 else 0.5
        if index % 2:
            score[30] = 0.6
        scores[scored.name] = score
    halves = held_out(files, scores, nab.STANDARD)
    assert halves["even"]["own_threshold"] == pytest.approx(100.0)
    # two first points (+1 each) and two false positives before any window (-0.11 each), from -2 to 2
    assert halves["odd"]["own_threshold"] == pytest.approx(100 * (2 - 2 * 0.11 + 2) / 4)
    # the odd half's threshold of 0.5 serves the even half as well as its own
    assert halves["even"]["other_threshold"] == pytest.approx(100.0)
    # the even half's threshold of 0.9 misses both odd windows: the null score
    assert halves["odd"]["other_threshold"] == pytest.approx(0.0)

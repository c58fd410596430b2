"""Evaluation arithmetic: threshold metrics, per-variant rates and the account-level max."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from training.evaluate import account_scores, binary_metrics, per_variant


def test_threshold_metrics_count_scores_strictly_above_090():
    y = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    p = np.array([0.95, 0.90, 0.2, 0.91, 0.1, 0.6])
    m = binary_metrics(y, p)
    assert m["confusion_at_threshold"] == {"tp": 1, "fn": 2, "fp": 1, "tn": 2}
    assert m["recall_at_threshold"] == pytest.approx(1 / 3)
    assert m["fpr_at_threshold"] == pytest.approx(1 / 3)
    assert m["precision_at_threshold"] == pytest.approx(0.5)
    assert m["accuracy"] == pytest.approx(3 / 6)  # argmax: p > 0.5 is "hacker"


def test_recall_at_the_fpr_budget_takes_the_cut_above_which_at_most_half_a_percent_of_normals_fall():
    normal = np.linspace(0.0, 0.995, 200)  # 200 ordinary charts: one may score above the cut
    y = np.array([True] * 4 + [False] * 200)
    p = np.concatenate([[0.999, 0.996, 0.98, 0.3], normal])
    m = binary_metrics(y, p)
    # the cut is the second-highest ordinary score (0.99): only the thieves above it count
    assert m["recall_at_fpr_budget"] == pytest.approx(2 / 4)
    assert m["recall_at_threshold"] == pytest.approx(3 / 4)


def test_account_score_is_the_max_over_its_charts():
    records = [
        {"user_id": "a", "label": "hacker", "variant": "classic"},
        {"user_id": "a", "label": "hacker", "variant": "classic"},
        {"user_id": "b", "label": "normal", "variant": "dca"},
    ]
    accounts, scores = account_scores(records, np.array([0.3, 0.97, 0.4]))
    assert [a["user_id"] for a in accounts] == ["a", "b"]
    assert scores.tolist() == [0.97, 0.4]


def test_per_variant_reports_recall_for_thieves_and_fpr_for_normals():
    rates = per_variant(
        ["hacker", "hacker", "normal", "normal"], ["x", "x", "y", "y"], np.array([0.95, 0.5, 0.99, 0.1])
    )
    assert rates["hacker/x"] == {"n": 2, "recall": 0.5, "flagged": 1}
    assert rates["normal/y"] == {"n": 2, "fpr": 0.5, "flagged": 1}

"""Evaluation arithmetic: threshold metrics, per-variant rates and the account-level max."""

from __future__ import annotations

import math

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


def _results(hacker_weight: float) -> dict:
    from scoring.contracts import DEFAULT_RISK_THRESHOLD
    from training.evaluate import TARGETS

    y = np.array([True] * 4 + [False] * 4)
    p = np.array([0.99, 0.95, 0.8, 0.3, 0.4, 0.2, 0.1, 0.05])  # at 0.90: 2 of 4 caught, no false alarm
    metrics = binary_metrics(y, p)
    variants = per_variant(["hacker"] * 4 + ["normal"] * 4, ["x"] * 4 + ["y"] * 4, p)
    return {
        "model": {
            "architecture": "small_cnn",
            "parameters": 1,
            "profile": "quick",
            "seed": 1,
            "render_version": "chart-v1",
            "input": {"width": 250, "height": 40, "resize": "box"},
            "hacker_weight": hacker_weight,
        },
        "training": {"total_seconds": 60.0},
        "heldout": {"seed": 2, "images": 8, "accounts": 8},
        "threshold": DEFAULT_RISK_THRESHOLD,
        "targets": TARGETS,
        "latency_batch1": {"p50_ms": 1.0, "p99_ms": 2.0},
        "image_model": {
            "chart": metrics,
            "account": metrics,
            "chart_per_variant": variants,
            "account_per_variant": variants,
        },
        "baselines": {
            "round_trip_features_gradient_boosting": {
                "chart": metrics,
                "account": metrics,
                "chart_per_variant": variants,
            },
            "round_trip_features_logistic_regression": {"chart": metrics},
            "dot_count_only": {"chart": metrics},
        },
    }


def test_report_gives_accuracy_at_argmax_and_at_the_threshold_and_says_how_the_loss_was_weighted():
    from training.evaluate import render_report

    weighted = render_report(_results(3.0))
    # argmax: 7 of 8 right (only the thief at 0.3 missed); at 0.90: 6 of 8 (the one at 0.8 too)
    assert "| accuracy (argmax) | >= 99.5% | 87.50% |" in weighted
    assert (
        "threshold instead of argmax) | >= 99.5% | 75.00% | 40.93%-92.85% | **not met** at 0.90 |" in weighted
    )
    assert "Loss weight of the hacker class in training: 3 (normal 1)." in weighted
    assert "a missed thief costing 3 false alarms" in weighted
    plain = render_report(_results(1.0))
    assert "Loss weight of the hacker class in training: 1 (normal 1)." in plain
    assert "false alarms (the hacker class weighted" not in plain


def test_report_says_the_features_win_when_they_make_far_fewer_errors_at_the_threshold():
    from training.evaluate import interpretation

    results = _results(1.0)
    assert "The picture matches the round-trip features" in "\n".join(interpretation(results))
    y = np.array([True] * 4 + [False] * 4)
    better = binary_metrics(y, np.array([0.99, 0.95, 0.93, 0.3, 0.4, 0.2, 0.1, 0.05]))  # 1 wrong, not 2
    results["baselines"]["round_trip_features_gradient_boosting"]["chart"] = better
    assert "beat the picture on this data (1 wrong at 0.90 against 2)" in "\n".join(interpretation(results))
    ranked_better = dict(results["image_model"]["chart"], roc_auc=0.5)  # wins on AUC, not on errors
    results["baselines"]["round_trip_features_gradient_boosting"]["chart"] = results["image_model"]["chart"]
    results["image_model"]["chart"] = ranked_better
    said = "\n".join(interpretation(results))
    assert "beat the picture on this data. They read" in said and "wrong at 0.90" not in said


def test_wilson_interval_matches_known_values():
    from training.evaluate import wilson_interval

    low, high = wilson_interval(0.5, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)
    low, high = wilson_interval(0.0, 10)  # no errors seen is not a rate of zero
    assert low == 0.0 and round(high, 4) == 0.2775
    wide, narrow = wilson_interval(0.994, 4001), wilson_interval(0.994, 30001)
    assert wide[0] < narrow[0] < 0.994 < narrow[1] < wide[1]
    assert all(math.isnan(bound) for bound in wilson_interval(float("nan"), 5))  # nan in, nan out
    assert all(math.isnan(bound) for bound in wilson_interval(0.5, 0))  # nothing measured


def test_evaluation_refuses_a_model_or_a_held_out_set_of_another_render_version(tmp_path):
    import json

    from training.evaluate import run_evaluation

    model = tmp_path / "model"
    model.mkdir()
    (model / "metadata.json").write_text(json.dumps({"render_version": "chart-v0"}))
    with pytest.raises(ValueError, match="trained on chart-v0 charts"):
        run_evaluation(model, tmp_path / "report", work_dir=tmp_path, images_per_class=2)
    (model / "metadata.json").write_text(json.dumps({"render_version": "chart-v1"}))
    held = tmp_path / "heldout-7000001-2"
    held.mkdir()
    (held / "manifest.json").write_text(json.dumps({"render_version": "chart-v0"}))
    with pytest.raises(ValueError, match="another render version"):
        run_evaluation(model, tmp_path / "report", work_dir=tmp_path, images_per_class=2)

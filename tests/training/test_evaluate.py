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


def _results(fuses: bool = True) -> dict:
    from scoring.contracts import DEFAULT_RISK_THRESHOLD
    from training.evaluate import TARGETS, evaluate_scores

    # 4 thieves, 4 ordinary accounts (2 of them victims), one chart each
    records = [
        {"user_id": f"u{i}", "label": label, "variant": variant}
        for i, (label, variant) in enumerate(
            [("hacker", "classic")] * 4 + [("normal", "dca")] * 2 + [("normal", "victim")] * 2
        )
    ]
    perfect = np.array([0.99, 0.95, 0.93, 0.91, 0.4, 0.2, 0.1, 0.05])
    flawed = np.array([0.99, 0.95, 0.8, 0.3, 0.4, 0.2, 0.95, 0.05])  # 2 thieves missed, a victim flagged
    models = {"decision": evaluate_scores(records, perfect), "image_model": evaluate_scores(records, flawed)}
    if fuses:
        models["round_trip_model"] = evaluate_scores(records, perfect)
    models["round_trip_histgb"] = evaluate_scores(records, perfect)
    models["dot_count_only"] = evaluate_scores(records, flawed)
    one_set = {"seed": 2, "dir": "x", "images": 8, "accounts": 8, "models": models}
    return {
        "model": {
            "architecture": "small_cnn",
            "parameters": 1,
            "profile": "quick",
            "seed": 1,
            "render_version": "chart-v3",
            "input": {"width": 250, "height": 76, "resize": "box"},
            "digest": {"sha256": "ab" * 32},
            "hacker_weight": 3.0,
        },
        "training": {"train_seconds": 60.0, "epochs_run": 2, "threads": 1},
        "threshold": DEFAULT_RISK_THRESHOLD,
        "targets": TARGETS,
        "fuses": fuses,
        "sets": {"simulator": one_set, "second_market": one_set},
        "latency_batch1": {"p50_ms": 1.0, "p99_ms": 2.0},
    }


def test_victims_flag_rate_counts_the_victim_accounts_flagged():
    from training.evaluate import evaluate_scores

    results = _results()
    victims = results["sets"]["simulator"]["models"]["image_model"]["victims"]
    assert victims == {"n": 2, "flagged": 1, "rate": 0.5}
    assert (
        evaluate_scores([{"user_id": "a", "label": "normal", "variant": "dca"}], np.array([0.99]))["victims"][
            "n"
        ]
        == 0
    )


def test_report_reads_the_decisions_targets_per_account_and_chart_on_both_sets_beside_every_model():
    from training.evaluate import render_report

    report = render_report(_results())
    assert "## Targets on the simulator's held-out set" in report
    assert "## Targets on the second market's held-out set" in report
    # the decision: 4 of 4 thieves, no false alarm, no victim flagged; 4 accounts per class
    assert "| recall at 0.90 | >= 99.9% | 100.00% (51.01%-100.00%) | met |" in report
    assert "| victims flagged (bought high, sold low) | <= 0.1% | 0.00% (0.00%-65.76%) of 2 | met |" in report
    assert "| chart-v3 image model alone | 50.00% (15.00%-85.00%) |" in report
    assert "mean of the image model's and the round-trip model's" in report
    assert "image model alone" in render_report(_results(fuses=False))


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
    (model / "metadata.json").write_text(json.dumps({"render_version": "chart-v3"}))
    held = tmp_path / "heldout-7000001-2"
    held.mkdir()
    (held / "manifest.json").write_text(json.dumps({"render_version": "chart-v0"}))
    with pytest.raises(ValueError, match="another render version"):
        run_evaluation(model, tmp_path / "report", work_dir=tmp_path, images_per_class=2)

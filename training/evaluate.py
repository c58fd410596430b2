"""Held-out evaluation of a model artifact: `make evaluate`.
(Over 400 lines: the held-out run, its metrics and the report that explains them are one job.)

The held-out set comes from the simulator with a seed the model never saw (a different market
and different accounts), and is scored through the artifact's own `code/inference.py`, the code
the endpoint runs. Reported at two levels:
- chart (image): one chart per (account, symbol), what the endpoint classifies;
- account: the max over the account's charts, what the scoring function decides on.
Beside the image model, on the same charts and accounts: a gradient-boosting baseline on the
round-trip features of `training.features` (trained on the model's own training split) and a
dot-count-only baseline (the sample's leak, which should be useless here).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from scoring.chart import RENDER_VERSION
from scoring.contracts import DEFAULT_RISK_THRESHOLD
from training.dataset import build_dataset, load_records

# Held-out charts per class: enough for a 95% interval narrow enough to tell a model that meets
# the accuracy target from one just short of it.
HELDOUT_IMAGES = 15000
TARGETS = {"accuracy": 0.995, "recall_at_threshold": 0.99, "fpr_at_threshold": 0.005}
FPR_BUDGET = TARGETS["fpr_at_threshold"]


def load_serving_module(model_dir: Path):
    """Import the artifact's code/inference.py by file, as the container does."""
    path = Path(model_dir) / "code" / "inference.py"
    spec = importlib.util.spec_from_file_location("chartguard_artifact_inference", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score_images(
    model_dir: Path, dataset_dir: Path, paths: Sequence[str], progress: bool = False
) -> np.ndarray:
    """p_hacker of each image, through input_fn -> predict_fn (batched) of the shipped module."""
    serving = load_serving_module(model_dir)
    model = serving.model_fn(str(model_dir))
    scores = np.empty(len(paths))
    batch = 64
    steps = range(0, len(paths), batch)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="score", unit="batch", leave=False, disable=None)
    for start in steps:
        chunk = paths[start : start + batch]
        images = np.stack(
            [serving.input_fn((Path(dataset_dir) / p).read_bytes(), "image/png") for p in chunk]
        )
        scores[start : start + len(chunk)] = serving.predict_fn(images, model)[:, 0]
    return scores


def binary_metrics(
    y_hacker: np.ndarray, p_hacker: np.ndarray, threshold: float = DEFAULT_RISK_THRESHOLD
) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y_hacker, dtype=bool)
    p = np.asarray(p_hacker, dtype=float)
    flagged = p > threshold  # contract 4: scores above the threshold are written
    tp, fp = int(np.sum(flagged & y)), int(np.sum(flagged & ~y))
    fn, tn = int(np.sum(~flagged & y)), int(np.sum(~flagged & ~y))
    # The ranking's own operating point: recall above the highest score that no more than 0.5%
    # of the ordinary charts exceed (the FPR target), whatever the threshold.
    ordinary = np.sort(p[~y])[::-1]
    cut = ordinary[int(FPR_BUDGET * len(ordinary))] if len(ordinary) else np.inf
    return {
        "recall_at_fpr_budget": float(np.mean(p[y] > cut)) if y.any() else float("nan"),
        "fpr_budget": FPR_BUDGET,
        "n": len(y),
        "hacker": int(y.sum()),
        "normal": int((~y).sum()),
        "accuracy": float(np.mean((p > 0.5) == y)),
        "roc_auc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan"),
        "precision_at_threshold": tp / (tp + fp) if tp + fp else float("nan"),
        "recall_at_threshold": tp / (tp + fn) if tp + fn else float("nan"),
        "fpr_at_threshold": fp / (fp + tn) if fp + tn else float("nan"),
        "accuracy_at_threshold": (tp + tn) / len(y),
        "confusion_at_threshold": {"tp": tp, "fn": fn, "fp": fp, "tn": tn},
    }


def per_variant(labels: Sequence[str], variants: Sequence[str], p_hacker: np.ndarray) -> dict[str, dict]:
    """Recall per hacker variant, false-positive rate per normal variant, at the threshold."""
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for label, variant, p in zip(labels, variants, p_hacker):
        groups[(label, variant)].append(float(p))
    out = {}
    for (label, variant), scores in sorted(groups.items()):
        hits = sum(s > DEFAULT_RISK_THRESHOLD for s in scores)
        key = "recall" if label == "hacker" else "fpr"
        out[f"{label}/{variant}"] = {"n": len(scores), key: hits / len(scores), "flagged": hits}
    return out


def account_scores(records: Sequence[dict], p_hacker: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """Max over each account's charts (what the scoring function compares with the threshold)."""
    best: dict[str, float] = {}
    info: dict[str, dict] = {}
    for record, p in zip(records, p_hacker):
        user = record["user_id"]
        best[user] = max(best.get(user, -1.0), float(p))
        info[user] = {"user_id": user, "label": record["label"], "variant": record["variant"]}
    users = sorted(best)
    return [info[u] for u in users], np.array([best[u] for u in users])


def _train_baselines(train_records: Sequence[dict]):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    x = np.array([r["features"] for r in train_records])
    y = np.array([r["label"] == "hacker" for r in train_records])
    boosted = HistGradientBoostingClassifier(random_state=0).fit(x, y)
    counts = np.array([[r["n_trades"]] for r in train_records], dtype=float)
    dot_count = HistGradientBoostingClassifier(random_state=0, max_depth=3).fit(counts, y)
    linear = LogisticRegression(max_iter=2000).fit(x, y)
    return boosted, linear, dot_count


def _roc_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_auc_score, roc_curve

    figure = Figure(figsize=(9, 4.2), dpi=100)
    for column, zoom in enumerate((False, True)):
        axes = figure.add_subplot(1, 2, column + 1)
        for name, (y, p) in curves.items():
            fpr, tpr, _ = roc_curve(y, p)
            axes.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, p):.4f})", linewidth=1.4)
        axes.axvline(TARGETS["fpr_at_threshold"], color="grey", linestyle=":", linewidth=1)
        axes.set_xlabel("false-positive rate")
        axes.set_ylabel("true-positive rate (recall)")
        if zoom:
            axes.set_xlim(0, 0.05)
            axes.set_ylim(0.8, 1.001)
            axes.set_title("zoom: FPR <= 5%")
        else:
            axes.plot([0, 1], [0, 1], color="lightgrey", linewidth=1)
            axes.set_title("ROC, held-out simulated set")
            axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path)


def sample_sheet(dataset_dir: Path, records: Sequence[dict], path: Path, per_variant: int = 2) -> None:
    """One row per variant, `per_variant` held-out charts each, captioned: what the classes look like."""
    from PIL import Image, ImageDraw

    groups: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        key = f"{record['label']}/{record['variant']}"
        if len(groups[key]) < per_variant:
            groups[key].append(record)
    keys = sorted(groups)
    caption, pad = 150, 4
    sheet = Image.new("RGB", (caption + per_variant * (250 + pad), len(keys) * (150 + pad)), (200, 200, 200))
    draw = ImageDraw.Draw(sheet)
    for row, key in enumerate(keys):
        y = row * (150 + pad)
        draw.text((6, y + 68), key, fill=(0, 0, 0))
        for column, record in enumerate(groups[key]):
            with Image.open(Path(dataset_dir) / record["path"]) as chart:
                sheet.paste(chart.convert("RGB"), (caption + column * (250 + pad), y))
    sheet.save(path, optimize=True)


def measure_latency(model_dir: Path, png: bytes, runs: int = 200) -> dict[str, float]:
    """Batch-1 latency of input_fn -> predict_fn -> output_fn (ms), after a warm-up."""
    serving = load_serving_module(model_dir)
    model = serving.model_fn(str(model_dir))
    for _ in range(10):
        serving.output_fn(serving.predict_fn(serving.input_fn(png, "image/png"), model), "application/json")
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        serving.output_fn(serving.predict_fn(serving.input_fn(png, "image/png"), model), "application/json")
        times.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": float(np.percentile(times, 50)),
        "p99_ms": float(np.percentile(times, 99)),
        "runs": runs,
    }


def wilson_interval(rate: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion measured on `n` trials (95% for z = 1.96)."""
    if n <= 0 or rate != rate:
        return float("nan"), float("nan")
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _interval(rate: float, n: int) -> str:
    low, high = wilson_interval(rate, n)
    return f"{_fmt(low)}-{_fmt(high)}"


def _fmt(value: float, percent: bool = True) -> str:
    if value != value:  # nan
        return "n/a"
    return f"{100 * value:.2f}%" if percent else f"{value:.4f}"


def run_evaluation(
    model_dir: Path,
    out_dir: Path,
    work_dir: Path = Path("artifacts/evaluation"),
    images_per_class: int = HELDOUT_IMAGES,
    seed: int = 7_000_001,
    training_dataset: Optional[Path] = None,
    progress: bool = True,
) -> str:
    """Build (or reuse) the held-out set, score it, write metrics.json, roc.png and README.md."""
    model_dir, out_dir, work_dir = Path(model_dir), Path(out_dir), Path(work_dir)
    metadata = json.loads((model_dir / "metadata.json").read_text())
    # The held-out charts must be drawn the way the model was trained to see them.
    render_version = str(metadata.get("render_version", RENDER_VERSION))
    if render_version != RENDER_VERSION:
        raise ValueError(
            f"the model was trained on {render_version} charts; the renderer draws {RENDER_VERSION}"
        )
    heldout = work_dir / f"heldout-{seed}-{images_per_class}"
    manifest = heldout / "manifest.json"
    if manifest.exists() and json.loads(manifest.read_text()).get("render_version") != RENDER_VERSION:
        raise ValueError(f"{heldout} holds charts of another render version than {RENDER_VERSION}")
    if not manifest.exists():
        build_dataset(
            heldout,
            images_per_class,
            images_per_class,
            seed=seed,
            val_fraction=1.0,
            progress=progress,
            workers=min(2, os.cpu_count() or 1),
        )
    records = load_records(heldout)
    y = np.array([r["label"] == "hacker" for r in records])
    started = time.perf_counter()
    p_image = score_images(model_dir, heldout, [r["path"] for r in records], progress)
    scoring_seconds = time.perf_counter() - started

    if training_dataset is None:
        training_dataset = model_dir.parent / str(metadata.get("dataset", {}).get("dir", ""))
    train_records = load_records(training_dataset, "train")
    boosted, linear, dot_count = _train_baselines(train_records)
    x = np.array([r["features"] for r in records])
    p_boosted = boosted.predict_proba(x)[:, 1]
    p_linear = linear.predict_proba(x)[:, 1]
    p_dots = dot_count.predict_proba(np.array([[r["n_trades"]] for r in records], dtype=float))[:, 1]

    labels = [r["label"] for r in records]
    variants = [r["variant"] for r in records]
    accounts, p_account = account_scores(records, p_image)
    _, p_account_boosted = account_scores(records, p_boosted)
    y_account = np.array([a["label"] == "hacker" for a in accounts])
    results: dict[str, Any] = {
        "model": {
            **{
                k: metadata.get(k)
                for k in ("architecture", "profile", "render_version", "parameters", "seed", "input")
            },
            "hacker_weight": metadata.get("config", {}).get("hacker_weight", 1.0),
        },
        "training": {k: v for k, v in metadata.get("training", {}).items() if k != "history"},
        "heldout": {"seed": seed, "dir": heldout.name, "images": len(records), "accounts": len(accounts)},
        "threshold": DEFAULT_RISK_THRESHOLD,
        "targets": TARGETS,
        "image_model": {
            "chart": binary_metrics(y, p_image),
            "account": binary_metrics(y_account, p_account),
            "chart_per_variant": per_variant(labels, variants, p_image),
            "account_per_variant": per_variant(
                [a["label"] for a in accounts], [a["variant"] for a in accounts], p_account
            ),
        },
        "baselines": {
            "round_trip_features_gradient_boosting": {
                "chart": binary_metrics(y, p_boosted),
                "account": binary_metrics(y_account, p_account_boosted),
                "chart_per_variant": per_variant(labels, variants, p_boosted),
            },
            "round_trip_features_logistic_regression": {"chart": binary_metrics(y, p_linear)},
            "dot_count_only": {"chart": binary_metrics(y, p_dots)},
        },
        "scoring_seconds": round(scoring_seconds, 2),
        "latency_batch1": measure_latency(model_dir, (heldout / records[0]["path"]).read_bytes()),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    _roc_plot(
        {
            "image model, chart": (y, p_image),
            "image model, account (max)": (y_account, p_account),
            "round-trip features, HistGB": (y, p_boosted),
            "round-trip features, logistic": (y, p_linear),
            "dot count only": (y, p_dots),
        },
        out_dir / "roc.png",
    )
    sample_sheet(heldout, records, out_dir / "samples.png")
    report = render_report(results)
    (out_dir / "README.md").write_text(report)
    return report


def render_report(results: dict[str, Any]) -> str:
    image = results["image_model"]
    chart, account = image["chart"], image["account"]
    base = results["baselines"]
    model = results["model"]
    training = results["training"]
    at = f"{results['threshold']:.2f}"

    def verdict(name: str, value: float) -> str:
        goal = TARGETS[name]
        ok = value <= goal if name.startswith("fpr") else value >= goal
        return "met" if ok else "**not met**"

    lines = [
        "# Evaluation of the chart classifier",
        "",
        f"Generated by `make evaluate` (`python -m training evaluate`). Model: `{model['architecture']}` "
        f"({model['parameters']:,} parameters, profile `{model.get('profile')}`, seed {model['seed']}), "
        f"input {model['input']['width']}x{model['input']['height']} ({model['input']['resize']} resize of the "
        f"{results['model']['render_version']} 250x150 chart).",
        f"Held-out set: {results['heldout']['images']} charts of {results['heldout']['accounts']} simulated "
        f"accounts, from a market and accounts generated with seed {results['heldout']['seed']}, which training "
        "never saw; scored through the artifact's own `code/inference.py`.",
        f"Threshold: p(hacker) > {results['threshold']:.2f} (contract 4). Raw numbers: `metrics.json`.",
        f"Loss weight of the hacker class in training: {model.get('hacker_weight', 1.0):g} (normal 1).",
        "",
        "## Against the targets (chart level, the endpoint's unit)",
        "",
        "| metric | target | measured | 95% interval (Wilson) | |",
        "|---|---|---|---|---|",
        f"| accuracy (argmax) | >= 99.5% | {_fmt(chart['accuracy'])} | {_interval(chart['accuracy'], chart['n'])} "
        f"| {verdict('accuracy', chart['accuracy'])} |",
        f"| accuracy at {at} (flagged or not: the product's decision; the accuracy target read at the "
        f"threshold instead of argmax) | >= 99.5% | {_fmt(chart['accuracy_at_threshold'])} | "
        f"{_interval(chart['accuracy_at_threshold'], chart['n'])} | "
        f"{verdict('accuracy', chart['accuracy_at_threshold'])} at {at} |",
        f"| recall at {at} | >= 99% | {_fmt(chart['recall_at_threshold'])} | "
        f"{_interval(chart['recall_at_threshold'], chart['hacker'])} | "
        f"{verdict('recall_at_threshold', chart['recall_at_threshold'])} |",
        f"| false-positive rate at {at} | <= 0.5% | {_fmt(chart['fpr_at_threshold'])} | "
        f"{_interval(chart['fpr_at_threshold'], chart['normal'])} | "
        f"{verdict('fpr_at_threshold', chart['fpr_at_threshold'])} |",
        f"| training time (this machine, 2 cores) | <= 15 min | "
        f"{training.get('total_seconds', training.get('train_seconds', 0)) / 60:.1f} min | | |",
        f"| inference, batch 1, PNG in -> JSON out | <= 10 ms | "
        f"{results['latency_batch1']['p50_ms']:.2f} ms p50, {results['latency_batch1']['p99_ms']:.2f} ms p99 | | |",
        "",
        f"The interval is where the rate lies with 95% confidence given {chart['n']:,} held-out charts "
        f"({chart['hacker']:,} thieves' charts, {chart['normal']:,} ordinary): a target inside it is neither "
        "surely met nor surely missed.",
        "",
        "## Chart and account level",
        "",
        f"| | accuracy | ROC AUC | precision@{at} | recall@{at} | FPR@{at} | TP | FN | FP | TN |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [
        ("image model, chart", chart),
        ("image model, account (max over charts)", account),
        (
            "round-trip features + HistGradientBoosting, chart",
            base["round_trip_features_gradient_boosting"]["chart"],
        ),
        (
            "round-trip features + HistGradientBoosting, account",
            base["round_trip_features_gradient_boosting"]["account"],
        ),
        (
            "round-trip features + logistic regression, chart",
            base["round_trip_features_logistic_regression"]["chart"],
        ),
        ("dot count only (the sample's leak), chart", base["dot_count_only"]["chart"]),
    ]
    for name, m in rows:
        c = m["confusion_at_threshold"]
        lines.append(
            f"| {name} | {_fmt(m['accuracy'])} | {_fmt(m['roc_auc'], False)} | {_fmt(m['precision_at_threshold'])} "
            f"| {_fmt(m['recall_at_threshold'])} | {_fmt(m['fpr_at_threshold'])} | {c['tp']} | {c['fn']} | {c['fp']} "
            f"| {c['tn']} |"
        )
    lines += [
        "",
        "![ROC curves](roc.png)",
        "",
        "Held-out charts per variant (`samples.png`):",
        "",
        "![sample charts](samples.png)",
        "",
        f"## Per variant at {at} (recall for thieves, false-positive rate for ordinary accounts)",
        "",
        "| variant | charts | image model | round-trip HistGB | accounts | image model (account) |",
        "|---|---|---|---|---|---|",
    ]
    boosted_variants = base["round_trip_features_gradient_boosting"]["chart_per_variant"]
    for key, row in image["chart_per_variant"].items():
        metric = "recall" if key.startswith("hacker") else "fpr"
        acct = image["account_per_variant"].get(key, {})
        lines.append(
            f"| {key} ({metric}) | {row['n']} | {_fmt(row[metric])} | {_fmt(boosted_variants[key][metric])} "
            f"| {acct.get('n', 0)} | {_fmt(acct.get(metric, float('nan')))} |"
        )
    lines += ["", "## Reading it", "", *interpretation(results), ""]
    return "\n".join(lines)


def interpretation(results: dict[str, Any]) -> list[str]:
    chart = results["image_model"]["chart"]
    account = results["image_model"]["account"]
    boosted = results["baselines"]["round_trip_features_gradient_boosting"]["chart"]
    dots = results["baselines"]["dot_count_only"]["chart"]
    per_variant = results["image_model"]["chart_per_variant"]
    at = f"{results['threshold']:.2f}"
    weakest_hacker = min(
        (k for k in per_variant if k.startswith("hacker/")), key=lambda k: per_variant[k]["recall"]
    )
    worst_normal = max(
        (k for k in per_variant if k.startswith("normal/")), key=lambda k: per_variant[k]["fpr"]
    )

    def errors(m: dict[str, Any]) -> int:
        return int(m["confusion_at_threshold"]["fn"] + m["confusion_at_threshold"]["fp"])

    fewer_errors = errors(boosted) < 0.75 * errors(chart)
    if boosted["roc_auc"] > chart["roc_auc"] + 5e-4 or fewer_errors:
        counts = f" ({errors(boosted)} wrong at {at} against {errors(chart)})" if fewer_errors else ""
        comparison = (
            f"The round-trip features beat the picture on this data{counts}. They read each fill's position inside "
            "its own bar's range from the klines; the chart (contract 5) does not draw the bars, and at 288 "
            "bars across 244 px it could not show one bar's range anyway, so the network has to infer "
            "'bought at the low, sold at the high' from how the dots sit relative to each other."
        )
    else:
        comparison = (
            "The picture matches the round-trip features here: it loses nothing of the pattern the features "
            "encode. What it finds beyond them can only be measured on labelled real cases."
        )
    weight = float(results["model"].get("hacker_weight", 1.0))
    leaning = []
    if weight != 1.0:
        leaning = [
            f"- The network was trained with a missed thief costing {weight:g} false alarms (the hacker "
            f"class weighted {weight:g}:1 in the loss), so its scores lean towards 'hacker' as a prior of "
            f"{weight:g}:1 would: 0.50 is not where it decides. Its decisions are those at {at}, right for "
            f"{100 * chart['accuracy_at_threshold']:.2f}% of the charts; read at 0.50 (argmax) "
            f"{100 * chart['accuracy']:.2f}%.",
        ]
    return [
        *leaning,
        f"- Dot count alone reaches ROC AUC {dots['roc_auc']:.3f} (accuracy {100 * dots['accuracy']:.1f}%): "
        "the class is not in the number of dots, unlike the public sample.",
        f"- Image model: ROC AUC {chart['roc_auc']:.4f}; at {at} recall {100 * chart['recall_at_threshold']:.2f}% "
        f"and FPR {100 * chart['fpr_at_threshold']:.2f}% per chart, recall {100 * account['recall_at_threshold']:.2f}% "
        f"and FPR {100 * account['fpr_at_threshold']:.2f}% per account. Round-trip features with gradient "
        f"boosting: ROC AUC {boosted['roc_auc']:.4f}, recall {100 * boosted['recall_at_threshold']:.2f}%, "
        f"FPR {100 * boosted['fpr_at_threshold']:.2f}% per chart.",
        f"- {comparison}",
        f"- Hardest thieves for the image model: `{weakest_hacker}` (recall "
        f"{100 * per_variant[weakest_hacker]['recall']:.1f}%); most false positives: `{worst_normal}` (FPR "
        f"{100 * per_variant[worst_normal]['fpr']:.2f}%), ordinary accounts that round-trip inside the same wide "
        "bars a thief picks.",
        "- The account level (max over an account's charts) is what the product decides on: an ordinary "
        "account with several symbols has several chances of a false positive, a thief several chances of "
        "being caught.",
    ]

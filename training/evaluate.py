"""Held-out evaluation of a model artifact: `make evaluate`.
(Over 400 lines: the held-out run, its metrics and the report that explains them are one job.)

The held-out set comes from the simulator with a seed the model never saw (a different market
and different accounts), and is scored through the artifact's own `code/inference.py`, the code
the endpoint runs. Reported at two levels:
- chart (image): one chart per (account, symbol), what the endpoint classifies;
- account: the max over the account's charts, what the scoring function decides on.
Beside the image model, on the same charts and accounts: a gradient-boosting baseline on the
round-trip features of `scoring.round_trip` (trained on the model's own training split) and a
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
from training.dataset import (
    EVALUATION_SEED,
    MARKET_DAYS,
    MARKET_END,
    build_dataset,
    load_records,
    rebuild_stale,
    stale_features,
)
from training.second_market import SECOND_MARKET_SYMBOLS, second_market_klines

# Held-out charts per class: with no error, a 95% interval whose lower end clears 99.9% needs
# about 4,000 charts; the second market's set is smaller, so its intervals are wider.
HELDOUT_IMAGES = 10000
SECOND_MARKET_IMAGES = 5000
SECOND_MARKET_SEED = 7_100_001
TARGETS = {"recall_at_threshold": 0.999, "fpr_at_threshold": 0.001, "victim_flag_rate": 0.001}
FPR_BUDGET = TARGETS["fpr_at_threshold"]


def heldout_set(
    work_dir: Path, market: str, images_per_class: int, seed: int, progress: bool = False
) -> Path:
    """The held-out charts of one market ("simulator": the synthetic market of another seed;
    "second_market": `training.second_market`), rendered once into `work_dir` and reused."""
    name = "heldout" if market == "simulator" else market.replace("_", "-")
    out = Path(work_dir) / f"{name}-{seed}-{images_per_class}"
    manifest = out / "manifest.json"
    if manifest.exists():
        if json.loads(manifest.read_text()).get("render_version") != RENDER_VERSION:
            raise ValueError(f"{out} holds charts of another render version than {RENDER_VERSION}")
        if not stale_features(out):
            return out
    klines, source = None, None
    if market == "second_market":
        klines = second_market_klines(SECOND_MARKET_SYMBOLS, MARKET_END, MARKET_DAYS, seed)
        source = {"generator": "training.second_market", "seed": seed, "days": MARKET_DAYS}
    elif market != "simulator":
        raise ValueError(f"market must be 'simulator' or 'second_market', not {market!r}")
    build_dataset(
        out,
        images_per_class,
        images_per_class,
        seed=seed,
        val_fraction=1.0,
        progress=progress,
        workers=min(2, os.cpu_count() or 1),
        klines=klines,
        market_source=source,
    )
    return out


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


MARKETS = ("simulator", "second_market")
MARKET_TITLES = {
    "simulator": "the simulator's held-out set (the synthetic market of another seed)",
    "second_market": "the second market's held-out set (`training.second_market`: another generator)",
}


def score_set(serving: Any, model: dict, dataset_dir: Path, records: Sequence[dict], progress: bool = False):
    """P(hacker) per chart of the artifact's parts through its own serving code: "chart" (the
    image model alone, what a bare image/png request gets), and when the artifact carries the
    round-trip model "round_trip" and "fused" (what the JSON request gets)."""
    from scoring.round_trip import FEATURE_NAMES

    fuses = "round_trip_session" in model
    out: dict[str, np.ndarray] = {k: np.empty(len(records)) for k in ("chart", "round_trip", "fused")}
    steps = range(0, len(records), 64)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="score", unit="batch", leave=False, disable=None)
    for start in steps:
        chunk = records[start : start + 64]
        images = np.stack(
            [serving.input_fn((dataset_dir / r["path"]).read_bytes(), "image/png") for r in chunk]
        )
        if fuses:
            vectors = np.stack(
                [
                    serving.round_trip_vector(dict(zip(FEATURE_NAMES, r["features"])), model["feature_names"])
                    for r in chunk
                ]
            )
            parts = serving.fused_predict(images, vectors, model)
            for key in out:
                out[key][start : start + len(chunk)] = parts[key]
        else:
            out["chart"][start : start + len(chunk)] = serving.predict_fn(images, model)[:, 0]
    return out if fuses else {"chart": out["chart"]}


def victim_rate(accounts: Sequence[dict], p_account: np.ndarray) -> dict[str, Any]:
    """Share of the `victim` accounts (bought high, sold low) flagged at the threshold."""
    mask = np.array([a["variant"] == "victim" for a in accounts])
    flagged = int(np.sum(p_account[mask] > DEFAULT_RISK_THRESHOLD))
    n = int(mask.sum())
    return {"n": n, "flagged": flagged, "rate": flagged / n if n else float("nan")}


def evaluate_scores(records: Sequence[dict], p_chart: np.ndarray) -> dict[str, Any]:
    """Chart and account (max over the account's charts) metrics, per variant, victims' rate."""
    y = np.array([r["label"] == "hacker" for r in records])
    accounts, p_account = account_scores(records, p_chart)
    y_account = np.array([a["label"] == "hacker" for a in accounts])
    return {
        "chart": binary_metrics(y, p_chart),
        "account": binary_metrics(y_account, p_account),
        "chart_per_variant": per_variant(
            [r["label"] for r in records], [r["variant"] for r in records], p_chart
        ),
        "account_per_variant": per_variant(
            [a["label"] for a in accounts], [a["variant"] for a in accounts], p_account
        ),
        "victims": victim_rate(accounts, p_account),
    }


def run_evaluation(
    model_dir: Path,
    out_dir: Path,
    work_dir: Path = Path("artifacts/evaluation"),
    images_per_class: int = HELDOUT_IMAGES,
    seed: int = EVALUATION_SEED,
    training_dataset: Optional[Path] = None,
    progress: bool = True,
    second_market_images: int = SECOND_MARKET_IMAGES,
    second_market_seed: int = SECOND_MARKET_SEED,
) -> str:
    """Build (or reuse) both held-out sets, score them, write metrics.json, roc.png and README.md."""
    model_dir, out_dir, work_dir = Path(model_dir), Path(out_dir), Path(work_dir)
    metadata = json.loads((model_dir / "metadata.json").read_text())
    # The held-out charts must be drawn the way the model was trained to see them.
    render_version = str(metadata.get("render_version", RENDER_VERSION))
    if render_version != RENDER_VERSION:
        raise ValueError(
            f"the model was trained on {render_version} charts; the renderer draws {RENDER_VERSION}"
        )
    sizes = {
        "simulator": (images_per_class, seed),
        "second_market": (second_market_images, second_market_seed),
    }
    if training_dataset is None:
        training_dataset = model_dir.parent / str(metadata.get("dataset", {}).get("dir", ""))
    # The baselines train on the features the held-out records will carry.
    if (Path(training_dataset) / "manifest.json").exists():
        rebuild_stale(training_dataset, progress, workers=min(2, os.cpu_count() or 1))
    heldouts = {market: heldout_set(work_dir, market, *sizes[market], progress) for market in MARKETS}
    boosted, linear, dot_count = _train_baselines(load_records(training_dataset, "train"))
    serving = load_serving_module(model_dir)
    model = serving.model_fn(str(model_dir))
    fuses = "round_trip_session" in model
    sets: dict[str, Any] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    first_png = b""
    scoring_seconds = 0.0
    for market in MARKETS:
        market_seed = sizes[market][1]
        heldout = heldouts[market]
        records = load_records(heldout)
        first_png = first_png or (heldout / records[0]["path"]).read_bytes()
        started = time.perf_counter()
        parts = score_set(serving, model, heldout, records, progress)
        scoring_seconds += time.perf_counter() - started
        x = np.array([r["features"] for r in records])
        scores = {
            "decision": parts["fused"] if fuses else parts["chart"],
            "image_model": parts["chart"],
            **({"round_trip_model": parts["round_trip"]} if fuses else {}),
            # the same two parts pooled by the arithmetic mean: what the log-odds mean is measured against
            **({"mean_fusion": serving.fuse(parts["chart"], parts["round_trip"], "mean")} if fuses else {}),
            "round_trip_histgb": boosted.predict_proba(x)[:, 1],
            "round_trip_logistic": linear.predict_proba(x)[:, 1],
            "dot_count_only": dot_count.predict_proba(
                np.array([[r["n_trades"]] for r in records], dtype=float)
            )[:, 1],
        }
        y = np.array([r["label"] == "hacker" for r in records])
        sets[market] = {
            "seed": market_seed,
            "dir": heldout.name,
            "images": len(records),
            "accounts": len({r["user_id"] for r in records}),
            "models": {name: evaluate_scores(records, p) for name, p in scores.items()},
        }
        if market == "simulator":
            curves = {
                MODEL_NAMES[name]: (y, p) for name, p in scores.items() if name != "round_trip_logistic"
            }
            out_dir.mkdir(parents=True, exist_ok=True)
            sample_sheet(heldout, records, out_dir / "samples.png")
    results: dict[str, Any] = {
        "model": {
            **{
                k: metadata.get(k)
                for k in (
                    "architecture",
                    "profile",
                    "render_version",
                    "parameters",
                    "seed",
                    "input",
                    "detector",
                    "digest",
                )
            },
            "round_trip": metadata.get("round_trip"),
            "hacker_weight": metadata.get("config", {}).get("hacker_weight", 1.0),
        },
        "training": {k: v for k, v in metadata.get("training", {}).items() if k != "history"},
        "threshold": DEFAULT_RISK_THRESHOLD,
        "targets": TARGETS,
        "fuses": fuses,
        "sets": sets,
        "scoring_seconds": round(scoring_seconds, 2),
        "latency_batch1": measure_latency(model_dir, first_png),
    }
    (out_dir / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    _roc_plot(curves, out_dir / "roc.png")
    report = render_report(results)
    (out_dir / "README.md").write_text(report)
    return report


MODEL_NAMES = {
    "decision": "the decision (what the endpoint answers the function)",
    "image_model": f"{RENDER_VERSION} image model alone",
    "round_trip_model": "round-trip model of the artifact (gradient boosting)",
    "mean_fusion": "the two models fused by the arithmetic mean",
    "round_trip_histgb": "round-trip features + HistGradientBoosting (baseline)",
    "round_trip_logistic": "round-trip features + logistic regression (baseline)",
    "dot_count_only": "dot count only (the sample's leak)",
}


def _verdict(name: str, value: float) -> str:
    goal = TARGETS[name]
    ok = value <= goal if name != "recall_at_threshold" else value >= goal
    return "met" if ok else "**not met**"


def _rate_cell(rate: float, n: int) -> str:
    return f"{_fmt(rate)} ({_interval(rate, n)})"


FUSION_PHRASES = {"log_odds_mean": "the mean of the log-odds", "mean": "the mean"}


def render_report(results: dict[str, Any]) -> str:
    model = results["model"]
    at = f"{results['threshold']:.2f}"
    fusion = (model.get("round_trip") or {}).get("fusion", "mean")
    decision = (
        f"{FUSION_PHRASES.get(fusion, fusion)} of the image model's and the round-trip model's P(hacker) "
        "(`chart+round-trip`)"
        if results["fuses"]
        else "the image model's P(hacker) (`chart-classifier`)"
    )
    lines = [
        "# Evaluation of the detector",
        "",
        f"Generated by `make evaluate` (`python -m training evaluate`). Model: `{model['architecture']}` "
        f"({model['parameters']:,} parameters, profile `{model.get('profile')}`, seed {model['seed']}), "
        f"input {model['input']['width']}x{model['input']['height']} ({model['input']['resize']} resize of the "
        f"{model['render_version']} 250x150 chart); digest `{(model.get('digest') or {}).get('sha256', 'n/a')[:16]}`.",
        f"The decision: {decision}, compared with the threshold (p > {at}, contract 4), per account as the "
        "function decides (the max over the account's charts) and per chart.",
        "Both held-out sets are scored through the artifact's own `code/inference.py`; training never saw "
        "their markets or accounts. Raw numbers: `metrics.json`. Intervals: 95% Wilson.",
        "",
    ]
    for market, data in results["sets"].items():
        m = data["models"]["decision"]
        acct, chart, victims = m["account"], m["chart"], m["victims"]
        lines += [
            f"## Targets on {MARKET_TITLES[market]}",
            "",
            f"{data['images']:,} charts of {data['accounts']:,} accounts (seed {data['seed']}).",
            "",
            "| the decision | target | account level | | chart level | |",
            "|---|---|---|---|---|---|",
            f"| recall at {at} | >= 99.9% | {_rate_cell(acct['recall_at_threshold'], acct['hacker'])} | "
            f"{_verdict('recall_at_threshold', acct['recall_at_threshold'])} | "
            f"{_rate_cell(chart['recall_at_threshold'], chart['hacker'])} | {_verdict('recall_at_threshold', chart['recall_at_threshold'])} |",
            f"| false-positive rate at {at} | <= 0.1% | {_rate_cell(acct['fpr_at_threshold'], acct['normal'])} | "
            f"{_verdict('fpr_at_threshold', acct['fpr_at_threshold'])} | "
            f"{_rate_cell(chart['fpr_at_threshold'], chart['normal'])} | {_verdict('fpr_at_threshold', chart['fpr_at_threshold'])} |",
            f"| victims flagged (bought high, sold low) | <= 0.1% | {_rate_cell(victims['rate'], victims['n'])} "
            f"of {victims['n']} | {_verdict('victim_flag_rate', victims['rate'])} | | |",
            "",
            f"### Every model on this set, at {at}",
            "",
            "| model | account recall | account FPR | chart recall | chart FPR | victims flagged | ROC AUC (chart) |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, mm in data["models"].items():
            a, c, v = mm["account"], mm["chart"], mm["victims"]
            lines.append(
                f"| {MODEL_NAMES[name]} | {_rate_cell(a['recall_at_threshold'], a['hacker'])} | "
                f"{_rate_cell(a['fpr_at_threshold'], a['normal'])} | {_rate_cell(c['recall_at_threshold'], c['hacker'])} | "
                f"{_rate_cell(c['fpr_at_threshold'], c['normal'])} | {v['flagged']}/{v['n']} | {_fmt(c['roc_auc'], False)} |"
            )
        names = [
            n
            for n in ("decision", "image_model", "round_trip_model", "round_trip_histgb")
            if n in data["models"]
        ]
        lines += [
            "",
            f"### Per variant, account level at {at} (recall for thieves, flag rate for ordinary accounts)",
            "",
            "| variant | accounts | " + " | ".join(MODEL_NAMES[n].split(" (")[0] for n in names) + " |",
            "|---|---|" + "---|" * len(names),
        ]
        for key, row in data["models"]["decision"]["account_per_variant"].items():
            metric = "recall" if key.startswith("hacker") else "fpr"
            cells = [_fmt(data["models"][n]["account_per_variant"][key][metric]) for n in names]
            lines.append(f"| {key} ({metric}) | {row['n']} | " + " | ".join(cells) + " |")
        lines.append("")
    latency = results["latency_batch1"]
    lines += [
        "## Model and serving",
        "",
        f"- Inference, batch 1, PNG in -> JSON out: {latency['p50_ms']:.2f} ms p50, {latency['p99_ms']:.2f} ms p99.",
        f"- Training: {results['training'].get('train_seconds', 0) / 60:.1f} min for the network "
        f"({results['training'].get('epochs_run')} epochs, {results['training'].get('threads')} thread(s)).",
        "",
        "ROC curves on the simulator's held-out set:",
        "",
        "![ROC curves](roc.png)",
        "",
        "Held-out charts per variant (`samples.png`): the upper panel is price, the lower one each fill's "
        "place inside its own bar's range.",
        "",
        "![sample charts](samples.png)",
        "",
        "## Reading it",
        "",
        *interpretation(results),
        "",
    ]
    return "\n".join(lines)


def interpretation(results: dict[str, Any]) -> list[str]:
    at = f"{results['threshold']:.2f}"
    out = []
    for market, data in results["sets"].items():
        models = data["models"]

        def errors(name: str, models: dict = models) -> int:
            a = models[name]["account"]["confusion_at_threshold"]
            return int(a["fn"] + a["fp"])

        ranked = sorted((n for n in models if n not in ("dot_count_only", "round_trip_logistic")), key=errors)
        image = models["image_model"]["account_per_variant"]
        weakest = min((k for k in image if k.startswith("hacker/")), key=lambda k: image[k]["recall"])
        worst = max((k for k in image if k.startswith("normal/")), key=lambda k: image[k]["fpr"])
        out.append(
            f"- {market.replace('_', ' ')}: wrong accounts at {at}: "
            + ", ".join(f"{MODEL_NAMES[n].split(' (')[0]} {errors(n)}" for n in ranked)
            + f". The image model's hardest thieves: `{weakest}` (recall {_fmt(image[weakest]['recall'])}); "
            f"its most flagged ordinary accounts: `{worst}` ({_fmt(image[worst]['fpr'])})."
        )
    out += [
        "- The account level (max over an account's charts) is what the product decides on: an ordinary "
        "account with several symbols has several chances of a false positive, a thief several of being caught.",
        "- A rate with no error still has an interval: its upper end says how far the rate could be off given "
        "the number of accounts measured.",
    ]
    return out

"""The round-trip model the artifact carries beside the network (contract 6's JSON variant).

Gradient boosting on `scoring.round_trip`'s features (each fill's place inside its own bar's
range, read from the klines), trained on the same training split as the network and exported
to ONNX, so the serving code needs onnxruntime alone. The endpoint answers the fused
probability, the mean of the two models' log-odds (`fuse` in the serving module): a model that
is sure carries one that is unsure, and one that is sure of "normal" holds back the other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from scoring.round_trip import FEATURE_NAMES
from training.artifact import digest_files, pack_model, read_metadata, write_serving_code
from training.dataset import LABEL_INDEX, load_records, stale_features

ROUND_TRIP_FILE = "round_trip.onnx"
FUSION = "log_odds_mean"
ONNX_ML_OPSET = 3
ESTIMATORS = 200
MAX_DEPTH = 3


def fit_round_trip_model(records: Sequence[dict], seed: int) -> Any:
    """GradientBoostingClassifier on the records' features; class 0 = hacker, as contract 6."""
    from sklearn.ensemble import GradientBoostingClassifier

    x = np.array([r["features"] for r in records], dtype=np.float32)
    y = np.array([LABEL_INDEX[r["label"]] for r in records])
    return GradientBoostingClassifier(n_estimators=ESTIMATORS, max_depth=MAX_DEPTH, random_state=seed).fit(
        x, y
    )


def export_round_trip_model(model: Any, path: Path) -> None:
    """ONNX with a plain probability tensor (no ZipMap), input "round_trip" (N, len(FEATURE_NAMES))."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = to_onnx(
        model,
        initial_types=[("round_trip", FloatTensorType([None, len(FEATURE_NAMES)]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": ONNX_ML_OPSET},
    )
    Path(path).write_bytes(onnx_model.SerializeToString())


def add_round_trip_model(model_dir: Path, dataset_dir: Path, seed: int) -> dict[str, Any]:
    """Train and export the round-trip model into a network's artifact; record it and the digest."""
    model_dir = Path(model_dir)
    if stale_features(dataset_dir):
        raise ValueError(
            f"{dataset_dir} holds round-trip features of an older list than scoring.round_trip's:"
            " build the dataset again (`python -m training dataset`)"
        )
    train_records = load_records(dataset_dir, "train")
    val_records = load_records(dataset_dir, "val")
    model = fit_round_trip_model(train_records, seed)
    export_round_trip_model(model, model_dir / ROUND_TRIP_FILE)
    val_x = np.array([r["features"] for r in val_records], dtype=np.float32)
    val_y = np.array([LABEL_INDEX[r["label"]] for r in val_records])
    metadata = read_metadata(model_dir)
    metadata["round_trip"] = {
        "file": ROUND_TRIP_FILE,
        "input": "round_trip",
        "feature_names": list(FEATURE_NAMES),
        "model": f"GradientBoostingClassifier(n_estimators={ESTIMATORS}, max_depth={MAX_DEPTH})",
        "fusion": FUSION,
        "train_charts": len(train_records),
        "val_accuracy": round(float(np.mean(model.predict(val_x) == val_y)), 6),
    }
    metadata["detector"] = "chart+round-trip"
    metadata["digest"] = digest_files(model_dir)
    (model_dir / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    write_serving_code(model_dir)
    pack_model(model_dir)
    return metadata

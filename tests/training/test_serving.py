"""The one inference module: self-contained, same preprocessing as training, contract 6 output."""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from scoring.chart import render_chart  # noqa: E402
from scoring.round_trip import FEATURE_NAMES, round_trip_features  # noqa: E402
from training import pipeline  # noqa: E402
from training.artifact import SERVING_SOURCE, digest_files, pack_model, read_metadata  # noqa: E402
from training.market_data import synthetic_klines  # noqa: E402
from training.serving.inference import preprocess  # noqa: E402
from training.simulate import account_charts, simulate_accounts  # noqa: E402

ALLOWED_IMPORTS = {
    "__future__",
    "base64",
    "binascii",
    "io",
    "json",
    "os",
    "typing",
    "numpy",
    "PIL",
    "onnxruntime",
    "sagemaker_inference",
}


TINY_PROFILE = {
    "images_per_class": 24,
    "train": {
        "architecture": "small_cnn",
        "max_epochs": 1,
        "min_epochs": 0,
        "patience": 1,
        "learning_rate": 1e-3,
        "height": 39,
        "width": 64,
        "precision": "bf16",  # the default profile's path (bf16 where the CPU has AMX; emulated elsewhere)
        "hacker_weight": 2.0,
        "flip_time": False,
        "roll_time": False,
    },
}


@pytest.fixture(scope="module")
def tiny_profile():
    """The quick profile replaced by a tiny one for this module's tests."""
    saved = dict(pipeline.PROFILES)
    pipeline.PROFILES["quick"] = TINY_PROFILE
    try:
        yield TINY_PROFILE
    finally:
        pipeline.PROFILES.clear()
        pipeline.PROFILES.update(saved)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_profile):
    """A real (if brief) training run through ensure_model, on the tiny profile."""
    model_dir = tmp_path_factory.mktemp("artifacts") / "model"
    assert pipeline.ensure_model(model_dir, quick=True) == model_dir
    return model_dir


def _load_shipped_module(model_dir):
    """Import code/inference.py from the artifact the way the container does: by file, alone."""
    spec = importlib.util.spec_from_file_location("shipped_inference", model_dir / "code" / "inference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _chart_png():
    from datetime import datetime, timedelta, timezone

    end = datetime(2026, 11, 1, tzinfo=timezone.utc)
    klines = synthetic_klines(["BTC-USD"], end, 2, seed=1)
    account = simulate_accounts(klines, 1, 0, seed=1, window_end=end - timedelta(hours=3))[0]
    _, bars, trades = account_charts(account, klines)[0]
    return render_chart(bars, trades)


def test_serving_module_imports_only_the_allowed_packages():
    tree = ast.parse(SERVING_SOURCE.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS


def test_artifact_holds_model_metadata_and_verbatim_code(tiny_model):
    meta = read_metadata(tiny_model)
    assert meta["class_order"] == ["hacker", "normal"] and meta["render_version"] == "chart-v3"
    assert meta["input"]["height"] == 39 and meta["architecture"] == "small_cnn"
    assert meta["training"]["precision"] == "bf16" and meta["config"]["hacker_weight"] == 2.0
    assert (tiny_model / "code" / "inference.py").read_text() == SERVING_SOURCE.read_text()
    assert "onnxruntime" in (tiny_model / "code" / "requirements.txt").read_text()
    with tarfile.open(tiny_model / "model.tar.gz") as archive:
        names = set(archive.getnames())
    assert {
        "model.onnx",
        "round_trip.onnx",
        "metadata.json",
        "code/inference.py",
        "code/requirements.txt",
    } <= names
    assert meta["detector"] == "chart+round-trip" and meta["round_trip"]["feature_names"] == list(
        FEATURE_NAMES
    )
    assert meta["digest"] == digest_files(tiny_model) and len(meta["digest"]["sha256"]) == 64


def _json_request(png, features):
    import base64

    body = {"image": base64.b64encode(png).decode("ascii"), "round_trip": features}
    return json.dumps(body).encode()


def _chart_inputs():
    from datetime import datetime, timedelta, timezone

    end = datetime(2026, 11, 1, tzinfo=timezone.utc)
    klines = synthetic_klines(["BTC-USD"], end, 2, seed=1)
    account = simulate_accounts(klines, 1, 0, seed=1, window_end=end - timedelta(hours=3))[0]
    _, bars, trades = account_charts(account, klines)[0]
    return bars, trades


def test_fusion_pools_the_two_log_odds_as_computed_by_hand():
    from training.serving.inference import fuse

    assert float(fuse(0.9, 0.5)) == pytest.approx(0.75)  # odds 9 and 1: geometric mean 3
    assert float(fuse(0.999, 0.6)) == pytest.approx(1 / (1 + math.sqrt(1 / 999 * 0.4 / 0.6)))
    assert float(fuse(0.8, 0.2)) == pytest.approx(0.5)  # equal and opposite confidence
    assert float(fuse(1.0, 0.0)) == pytest.approx(0.5)  # neither vetoes the other
    assert float(fuse(0.3, 0.7, "mean")) == pytest.approx(0.5)  # an older artifact's rule
    with pytest.raises(ValueError, match="unknown fusion"):
        fuse(0.5, 0.5, "max")


def test_json_variant_answers_the_fused_probability_and_both_parts(tiny_model):
    bars, trades = _chart_inputs()
    png = render_chart(bars, trades)
    features = dict(zip(FEATURE_NAMES, round_trip_features(bars, trades)))
    module = _load_shipped_module(tiny_model)
    model = module.model_fn(str(tiny_model))
    body = module.output_fn(
        module.predict_fn(module.input_fn(_json_request(png, features), "application/json"), model)
    )
    answer = json.loads(body)
    p_chart, p_round_trip = answer["components"]["chart"], answer["components"]["round_trip"]
    c, r = (min(max(p, 1e-6), 1 - 1e-6) for p in (p_chart, p_round_trip))  # the serving clip
    odds = math.sqrt(c / (1 - c) * r / (1 - r))
    assert answer["probabilities"][0] == pytest.approx(odds / (1 + odds))
    assert sum(answer["probabilities"]) == pytest.approx(1.0)
    # a bare PNG is still answered by the image model alone, the same number as the chart part
    alone = json.loads(module.output_fn(module.predict_fn(module.input_fn(png, "image/png"), model)))
    assert alone[0] == pytest.approx(p_chart)
    # the round-trip part is the exported gradient boosting's own probability
    from training.dataset import load_records
    from training.round_trip_model import fit_round_trip_model

    dataset = tiny_model.parent / read_metadata(tiny_model)["dataset"]["dir"]
    sklearn_model = fit_round_trip_model(load_records(dataset, "train"), read_metadata(tiny_model)["seed"])
    vector = np.array([[features[n] for n in FEATURE_NAMES]], dtype=np.float32)
    assert sklearn_model.predict_proba(vector)[0, 0] == pytest.approx(p_round_trip, abs=1e-5)
    with pytest.raises(ValueError, match="lacks the feature"):
        module.predict_fn(module.input_fn(_json_request(png, {"n_trades": 3}), "application/json"), model)


def test_ensure_model_is_cached(tiny_model):
    before = (tiny_model / "model.onnx").stat().st_mtime_ns
    assert pipeline.ensure_model(tiny_model, quick=True) == tiny_model
    assert (tiny_model / "model.onnx").stat().st_mtime_ns == before


def test_a_model_built_with_another_recipe_is_not_taken_for_its_profile(tiny_model):
    metadata = pipeline.read_metadata(tiny_model)
    assert pipeline.built_as_profiled(metadata, "quick")
    changed = dict(metadata, config=dict(metadata["config"], height=77))
    assert not pipeline.built_as_profiled(changed, "quick")


def test_round_trip_png_to_json_probabilities(tiny_model):
    module = _load_shipped_module(tiny_model)
    model = module.model_fn(str(tiny_model))
    png = _chart_png()
    data = module.input_fn(png, "image/png")
    prediction = module.predict_fn(data, model)
    body = module.output_fn(prediction, "application/json")
    probabilities = json.loads(body)
    assert len(probabilities) == 2 and abs(sum(probabilities) - 1) < 1e-5
    assert all(0.0 <= p <= 1.0 for p in probabilities)


def test_onnx_matches_the_trained_network_on_the_training_preprocessing(tiny_model):
    """Serving and training prepare the image identically: same tensor, same probabilities."""
    import onnxruntime as ort

    from scoring.chart import decode_png

    meta = read_metadata(tiny_model)
    png = _chart_png()
    module = _load_shipped_module(tiny_model)
    served = module.predict_fn(module.input_fn(png, "image/png"), module.model_fn(str(tiny_model)))
    tensor = preprocess(decode_png(png), meta["input"])[None]
    session = ort.InferenceSession(str(tiny_model / "model.onnx"), providers=["CPUExecutionProvider"])
    direct = session.run(None, {"image": tensor})[0][0]
    np.testing.assert_allclose(served, direct, rtol=1e-6, atol=1e-7)


def test_other_content_types_and_bad_bodies_are_rejected(tiny_model):
    module = _load_shipped_module(tiny_model)
    with pytest.raises(module.UnsupportedFormatError, match="image/png or application/json"):
        module.input_fn(b"a,b", "text/csv")
    with pytest.raises(ValueError, match="needs"):
        module.input_fn(b"{}", "application/json")
    with pytest.raises(ValueError, match="not JSON"):
        module.input_fn(b"{", "application/json")
    with pytest.raises(ValueError, match="not a readable PNG"):
        module.input_fn(b"not an image", "image/png")
    with pytest.raises(ValueError, match="non-empty"):
        module.input_fn(b"", "image/png")
    with pytest.raises(module.UnsupportedFormatError, match="accept"):
        module.output_fn(np.array([0.2, 0.8]), "text/csv")
    assert module.input_fn(_chart_png(), "image/png; charset=binary").shape == (150, 250, 3)


def test_pack_is_deterministic(tiny_model, tmp_path):
    one = pack_model(tiny_model, tmp_path / "a.tar.gz")
    two = pack_model(tiny_model, tmp_path / "b.tar.gz")
    with tarfile.open(one) as a, tarfile.open(two) as b:
        assert [(m.name, m.size, m.mtime) for m in a.getmembers()] == [
            (m.name, m.size, m.mtime) for m in b.getmembers()
        ]


def test_a_default_model_of_an_older_recipe_is_not_taken_for_the_profile():
    settings = dict(pipeline.PROFILES["default"]["train"])
    images = pipeline.PROFILES["default"]["images_per_class"]
    current = {"config": settings, "dataset": {"images_per_class": images}}
    assert pipeline.built_as_profiled(current, "default")
    # before min_epochs was set, and before the dataset's size was recorded (2,000 + 2,000)
    older = {"config": dict(settings, min_epochs=0)}
    assert pipeline.settings_changed(older, "default") == {
        "min_epochs": (0, settings["min_epochs"]),
        "images_per_class": (None, images),
    }
    assert not pipeline.built_as_profiled(older, "default")
    smaller = {"config": settings, "dataset": {"images_per_class": 2000}}
    assert pipeline.settings_changed(smaller, "default") == {"images_per_class": (2000, images)}


def test_a_model_about_to_be_replaced_is_named_with_the_settings_that_changed(tiny_model, tmp_path):
    assert pipeline._replacing(tmp_path / "nothing") == ""
    assert pipeline._replacing(tiny_model) == " (replacing a quick model)"
    older = tmp_path / "model"
    shutil.copytree(tiny_model, older)
    metadata = pipeline.read_metadata(older)
    metadata["config"]["height"] = 77
    (older / "metadata.json").write_text(json.dumps(metadata))
    assert (
        pipeline._replacing(older) == " (replacing a quick model built with other settings: height: 77 -> 39)"
    )


def test_a_profiles_threads_come_from_the_environment_first(monkeypatch):
    monkeypatch.delenv("CHARTGUARD_TORCH_THREADS", raising=False)
    assert pipeline.profile_threads("default") == pipeline.PROFILES["default"]["threads"]
    assert pipeline.profile_threads("quick") == 1  # the quick profile names none
    monkeypatch.setenv("CHARTGUARD_TORCH_THREADS", "3")
    assert pipeline.profile_threads("default") == pipeline.profile_threads("quick") == 3


def test_make_model_says_whether_its_digest_is_the_shipped_models(tiny_model, tmp_path):
    assert "no shipped model" in pipeline.compare_with_shipped(tiny_model, tmp_path / "absent")
    shipped = pipeline.ship_model(tiny_model, tmp_path / "model")
    assert not (shipped / "model.tar.gz").exists() and (shipped / "round_trip.onnx").is_file()
    assert "is the shipped model's" in pipeline.compare_with_shipped(tiny_model, shipped)
    metadata = read_metadata(shipped)
    metadata["digest"]["sha256"] = "0" * 64
    (shipped / "metadata.json").write_text(json.dumps(metadata))
    assert "differs from the shipped model's" in pipeline.compare_with_shipped(tiny_model, shipped)


def test_the_shipped_models_inference_code_is_the_serving_module():
    # The artifact carries its own copy (SageMaker loads code/ from model.tar.gz); an edit to the
    # serving module must be shipped with the model (`python -m training model --ship`).
    repo = Path(__file__).resolve().parents[2]
    shipped = (repo / "model" / "code" / "inference.py").read_bytes()
    assert shipped == (repo / "training" / "serving" / "inference.py").read_bytes()

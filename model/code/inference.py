"""Chart classifier serving code: the SageMaker PyTorch inference handler (contract 6).

ONE module serves the model everywhere: it is copied verbatim into the model artifact's `code/`
directory, where SageMaker's PyTorch inference container and the local SageMaker-Runtime
stand-in load it and call `model_fn`, `input_fn`, `predict_fn`, `output_fn`. Training imports
`preprocess` from here, so an image is prepared the same way when learning and when serving.

Self-contained on purpose: numpy, Pillow, onnxruntime and the standard library only.

Request: `image/png`, one chart image (contract 5). Response: a JSON array of class
probabilities in the order of `metadata.json`'s `class_order`, i.e. `["hacker", "normal"]`.
An artifact that also carries the round-trip model (`round_trip.onnx`, named in metadata's
`round_trip`) answers the `application/json` variant too: `{"image": <base64 PNG>,
"round_trip": {name: value}}` -> `{"probabilities": [p_hacker, p_normal], "components":
{"chart": p, "round_trip": p}}`, the fused P(hacker) pooling the two (`fuse`); a bare
`image/png` request is still answered by the image model alone.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
from typing import Any, Dict, Optional, Union

import numpy as np
from PIL import Image

MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
CLASS_ORDER = ("hacker", "normal")
PNG_CONTENT_TYPE = "image/png"
JSON_CONTENT_TYPE = "application/json"
# One resampling filter, named in metadata: BOX averages the source pixels under each target
# pixel, so a 5 px dot keeps its colour mass when 250 x 150 is shrunk.
RESAMPLING = {"box": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR}

try:  # inside SageMaker's container: its error type maps to HTTP 415 / 406
    from sagemaker_inference.errors import UnsupportedFormatError as _UnsupportedBase
except ImportError:  # pragma: no cover - outside the container
    _UnsupportedBase = ValueError


class UnsupportedFormatError(_UnsupportedBase):
    """The request's content type or accept type is not one this endpoint serves."""

    def __init__(self, content_type: Optional[str], supported: str, what: str = "content type"):
        message = f"unsupported {what} {content_type!r}: this endpoint accepts {supported}"
        if _UnsupportedBase is ValueError:
            super().__init__(message)
        else:  # sagemaker_inference's error takes the content type and answers 415
            super().__init__(content_type)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _base_type(content_type: Optional[str]) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def resize(rgb: np.ndarray, spec: Dict[str, Any]) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (h, w, 3) uint8 at the model's input size, with the named filter."""
    height, width = int(spec["height"]), int(spec["width"])
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))  # H x W x 3 uint8: RGB
    if image.size != (width, height):
        image = image.resize((width, height), RESAMPLING[spec.get("resize", "box")])
    return np.asarray(image, dtype=np.uint8)


def normalise(pixels: np.ndarray, spec: Dict[str, Any]) -> np.ndarray:
    """(..., h, w, 3) uint8 -> (..., 3, h, w) float32: scale to [0, 1], subtract mean, divide by std."""
    array = pixels.astype(np.float32) / 255.0
    mean = np.asarray(spec.get("mean", (0.5, 0.5, 0.5)), dtype=np.float32)
    std = np.asarray(spec.get("std", (0.5, 0.5, 0.5)), dtype=np.float32)
    return np.ascontiguousarray(np.moveaxis((array - mean) / std, -1, -3))


def preprocess(rgb: np.ndarray, spec: Dict[str, Any]) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, h, w) float32: what the network takes, in training and serving."""
    return normalise(resize(rgb, spec), spec)


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> (H, W, 3) uint8 RGB."""
    with Image.open(io.BytesIO(data)) as image:
        if image.format != "PNG":
            raise ValueError(f"body is a {image.format} image, not PNG")
        return np.asarray(image.convert("RGB"))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def model_fn(model_dir: str) -> Dict[str, Any]:
    """Load `model.onnx` and `metadata.json` from the artifact directory."""
    import onnxruntime as ort

    with open(os.path.join(model_dir, METADATA_FILE)) as handle:
        metadata = json.load(handle)
    if tuple(metadata.get("class_order", ())) != CLASS_ORDER:
        raise ValueError(
            f"model class order {metadata.get('class_order')} is not {list(CLASS_ORDER)} (contract 6)"
        )
    options = ort.SessionOptions()
    # One intra-op thread per worker: a 250 x 40 input is too small to split across cores, and
    # the serving container runs a worker per vCPU. 0 gives onnxruntime's default (all cores).
    threads = int(os.environ.get("CHARTGUARD_ORT_THREADS", "1"))
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        os.path.join(model_dir, MODEL_FILE), sess_options=options, providers=["CPUExecutionProvider"]
    )
    model = {
        "session": session,
        "input_name": session.get_inputs()[0].name,
        "metadata": metadata,
        "spec": metadata["input"],
    }
    round_trip = metadata.get("round_trip")
    if round_trip:
        model["round_trip_session"] = ort.InferenceSession(
            os.path.join(model_dir, round_trip["file"]),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        model["feature_names"] = list(round_trip["feature_names"])
        model["fusion"] = round_trip.get("fusion", "mean")
        fuse(0.5, 0.5, model["fusion"])  # an unknown rule fails at load, not at the first request
    return model


def _bytes(body: Any) -> Any:
    return bytes(body) if isinstance(body, (bytearray, memoryview)) else body


def _decode_image(body: Any) -> np.ndarray:
    try:
        return decode_png(body)
    except Exception as error:  # PIL raises several types for a bad body
        raise ValueError(f"body is not a readable PNG image: {error}") from None


def input_fn(
    request_body: Any, content_type: Optional[str] = PNG_CONTENT_TYPE
) -> Union[np.ndarray, Dict[str, Any]]:
    """`image/png` body -> (H, W, 3) uint8 RGB; `application/json` body -> {"image": RGB,
    "round_trip": {name: value}}; anything else is rejected with a clear error."""
    kind = _base_type(content_type)
    request_body = _bytes(request_body)
    if kind == JSON_CONTENT_TYPE:
        try:
            document = json.loads(request_body)
        except (TypeError, ValueError, UnicodeDecodeError):
            raise ValueError("application/json request body is not JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("image"), str):
            raise ValueError('application/json request needs {"image": <base64 PNG>, "round_trip": {...}}')
        features = document.get("round_trip")
        if not isinstance(features, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in features.values()
        ):
            raise ValueError('application/json request needs "round_trip": {feature name: number}')
        try:
            png = base64.b64decode(document["image"], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError('"image" is not base64') from None
        return {"image": _decode_image(png), "round_trip": features}
    if kind != PNG_CONTENT_TYPE:
        raise UnsupportedFormatError(content_type, f"{PNG_CONTENT_TYPE} or {JSON_CONTENT_TYPE}")
    if not isinstance(request_body, bytes) or not request_body:
        raise ValueError("image/png request needs a non-empty binary body")
    return _decode_image(request_body)


def _image_probabilities(images: np.ndarray, model: Dict[str, Any]) -> np.ndarray:
    batch = np.stack([preprocess(image, model["spec"]) for image in images])
    outputs = model["session"].run(None, {model["input_name"]: batch})[0]
    if model["metadata"].get("output", "probabilities") == "logits":
        outputs = _softmax(outputs)
    return np.asarray(outputs, dtype=np.float64)


def round_trip_vector(features: Dict[str, float], names: Any) -> np.ndarray:
    """{name: value} -> the model's feature vector, in its order; a missing name is an error."""
    missing = [name for name in names if name not in features]
    if missing:
        raise ValueError(f"round_trip lacks the feature(s) {missing}")
    return np.array([float(features[name]) for name in names], dtype=np.float32)


# Each model's P(hacker) is kept this far from 0 and 1, so that neither can veto the other alone.
FUSION_CLIP = 1e-6


def _log_odds_mean(chart: np.ndarray, round_trip: np.ndarray) -> np.ndarray:
    """The logarithmic opinion pool: the mean of the two log-odds, i.e. the geometric mean of
    the odds. A model that is sure outweighs one that is unsure (0.999 and 0.6 give 0.975, where
    the arithmetic mean, 0.80, misses the threshold); equal and opposite confidence gives 0.5."""
    c = np.clip(chart, FUSION_CLIP, 1 - FUSION_CLIP)
    r = np.clip(round_trip, FUSION_CLIP, 1 - FUSION_CLIP)
    return 1.0 / (1.0 + np.sqrt((1 - c) / c * (1 - r) / r))


# metadata.json's round_trip.fusion names the rule an artifact was evaluated with.
FUSIONS = {"log_odds_mean": _log_odds_mean, "mean": lambda chart, round_trip: (chart + round_trip) / 2}


def fuse(chart: Any, round_trip: Any, fusion: str = "log_odds_mean") -> np.ndarray:
    """The fused P(hacker) of the two models' P(hacker), by the artifact's rule."""
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}: one of {sorted(FUSIONS)}")
    return FUSIONS[fusion](np.asarray(chart, dtype=np.float64), np.asarray(round_trip, dtype=np.float64))


def fused_predict(images: np.ndarray, features: np.ndarray, model: Dict[str, Any]) -> Dict[str, np.ndarray]:
    """(N, H, W, 3) images and (N, F) round-trip vectors -> P(hacker) of each model and fused."""
    if "round_trip_session" not in model:
        raise ValueError("this model carries no round-trip model: send image/png")
    chart = _image_probabilities(images, model)[:, 0]
    session = model["round_trip_session"]
    outputs = session.run(None, {session.get_inputs()[0].name: np.asarray(features, dtype=np.float32)})
    round_trip = np.asarray(outputs[1], dtype=np.float64)[:, 0]  # outputs: label, probabilities
    return {"chart": chart, "round_trip": round_trip, "fused": fuse(chart, round_trip, model["fusion"])}


def predict_fn(data: Union[np.ndarray, Dict[str, Any]], model: Dict[str, Any]) -> Any:
    """RGB image (or a batch of them, (N, H, W, 3)) -> class probabilities, shape (2,) or (N, 2);
    a JSON request's {"image", "round_trip"} -> {"probabilities", "components"}."""
    if isinstance(data, dict):
        vector = round_trip_vector(data["round_trip"], model.get("feature_names", ()))
        parts = fused_predict(data["image"][None], vector[None], model)
        p = float(min(1.0, max(0.0, parts["fused"][0])))
        return {
            "probabilities": [p, 1.0 - p],
            "components": {"chart": float(parts["chart"][0]), "round_trip": float(parts["round_trip"][0])},
        }
    images = data[None] if data.ndim == 3 else data
    probabilities = _image_probabilities(images, model)
    return probabilities[0] if data.ndim == 3 else probabilities


def output_fn(prediction: Any, accept: Optional[str] = JSON_CONTENT_TYPE) -> str:
    """Probabilities -> JSON array `[p_hacker, p_normal]` (contract 6), or the JSON variant's object."""
    if _base_type(accept) not in ("", "*/*", JSON_CONTENT_TYPE):
        raise UnsupportedFormatError(accept, JSON_CONTENT_TYPE, what="accept type")
    if isinstance(prediction, dict):
        return json.dumps(prediction)
    return json.dumps(np.asarray(prediction, dtype=np.float64).tolist())

"""Chart classifier serving code: the SageMaker PyTorch inference handler (contract 6).

ONE module serves the model everywhere: it is copied verbatim into the model artifact's `code/`
directory, where SageMaker's PyTorch inference container and the local SageMaker-Runtime
stand-in load it and call `model_fn`, `input_fn`, `predict_fn`, `output_fn`. Training imports
`preprocess` from here, so an image is prepared the same way when learning and when serving.

Self-contained on purpose: numpy, Pillow, onnxruntime and the standard library only.

Request: `image/png`, one chart image (contract 5). Response: a JSON array of class
probabilities in the order of `metadata.json`'s `class_order`, i.e. `["hacker", "normal"]`.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any, Dict, Optional

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
    return {
        "session": session,
        "input_name": session.get_inputs()[0].name,
        "metadata": metadata,
        "spec": metadata["input"],
    }


def input_fn(request_body: Any, content_type: Optional[str] = PNG_CONTENT_TYPE) -> np.ndarray:
    """`image/png` body -> (H, W, 3) uint8 RGB; anything else is rejected with a clear error."""
    if _base_type(content_type) != PNG_CONTENT_TYPE:
        raise UnsupportedFormatError(content_type, PNG_CONTENT_TYPE)
    if isinstance(request_body, (bytearray, memoryview)):
        request_body = bytes(request_body)
    if not isinstance(request_body, bytes) or not request_body:
        raise ValueError("image/png request needs a non-empty binary body")
    try:
        return decode_png(request_body)
    except Exception as error:  # PIL raises several types for a bad body
        raise ValueError(f"body is not a readable PNG image: {error}") from None


def predict_fn(data: np.ndarray, model: Dict[str, Any]) -> np.ndarray:
    """RGB image (or a batch of them, (N, H, W, 3)) -> class probabilities, shape (2,) or (N, 2)."""
    images = data[None] if data.ndim == 3 else data
    batch = np.stack([preprocess(image, model["spec"]) for image in images])
    outputs = model["session"].run(None, {model["input_name"]: batch})[0]
    if model["metadata"].get("output", "probabilities") == "logits":
        outputs = _softmax(outputs)
    probabilities = np.asarray(outputs, dtype=np.float64)
    return probabilities[0] if data.ndim == 3 else probabilities


def output_fn(prediction: np.ndarray, accept: Optional[str] = JSON_CONTENT_TYPE) -> str:
    """Probabilities -> JSON array `[p_hacker, p_normal]` (contract 6)."""
    if _base_type(accept) not in ("", "*/*", JSON_CONTENT_TYPE):
        raise UnsupportedFormatError(accept, JSON_CONTENT_TYPE, what="accept type")
    return json.dumps(np.asarray(prediction, dtype=np.float64).tolist())

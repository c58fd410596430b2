"""The local trainer: one dataset, one network, one loop (CPU here, a GPU when present).

Reads the im2rec lists of a dataset directory, decodes each PNG and prepares it with the serving
module's own `resize` / `normalise`, trains with AdamW, stops early when validation loss stops
improving, keeps the best epoch and exports it to ONNX with softmax on top, beside a
`metadata.json` and the serving code (see `training.artifact`).
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from scoring.chart import BACKGROUND_RGB, BUY_RGB, RENDER_VERSION, SELL_RGB, decode_png
from scoring.contracts import CLASS_ORDER
from training.dataset import read_lst
from training.models import WithSoftmax, build_model, count_parameters
from training.serving.inference import normalise, resize

ONNX_OPSET = 17
THREADS_ENV = "CHARTGUARD_TORCH_THREADS"
log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    architecture: str = "resnet18"
    # 150 x 250 squeezed to 40 x 250: every column kept (a bar's buy and sell stay in one column)
    # and heights shrunk, so early layers span a pair's vertical distance; as many pixels as
    # 128 x 77, which loses columns instead (held-out accuracy 98.7-99.0% against 97.4-98.4%).
    height: int = 40
    width: int = 250
    resize: str = "box"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    batch_size: int = 64
    max_epochs: int = 12
    patience: int = 3  # epochs without a better validation loss before stopping ...
    min_epochs: int = 0  # ... counted only from here on (0: half of max_epochs, once the rate decays)
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 20261122
    # torch CPU threads. One by default: on two cores shared with other work, torch's second
    # OpenMP thread spins waiting for a busy core (measured: 0.3 s per ResNet batch on 1 thread,
    # 3 s on 2 under load 3). CHARTGUARD_TORCH_THREADS overrides; 0 means torch's default.
    threads: int = field(default_factory=lambda: int(os.environ.get(THREADS_ENV, "1")))
    # Mirror time (left-right) for a random half of each batch: a bar's buy/sell pair and a
    # schedule of buys read the same backwards, while up/down (price) is never flipped. Off by
    # default: on the quick profile it moved held-out ROC AUC from 0.9945 to 0.9953 (noise-level).
    flip_time: bool = False
    # Rotate time (a circular shift of the columns by a random amount per chart): every bar's
    # column of dots, and so every buy/sell pair inside one bar, is kept whole; only where in the
    # day it happened changes, which says nothing about a theft. Against memorising positions.
    roll_time: bool = False
    # Mirror price for a random half of each batch and swap the sides' colours (`mirror_price`): a
    # buy at a bar's low and a sell at its high stay exactly that, a long round trip becomes a
    # short one and a schedule of buys a schedule of sells. Time and every column are untouched.
    flip_price: bool = False
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def input_spec(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "width": self.width,
            "channels": 3,
            "resize": self.resize,
            "mean": list(self.mean),
            "std": list(self.std),
            "layout": "NCHW",
            "name": "image",
        }


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def load_split(dataset_dir: Path, split: str, spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Images of one .lst, resized (uint8, N x h x w x 3), and their labels."""
    rows = read_lst(Path(dataset_dir) / f"{split}.lst")
    pixels = np.empty((len(rows), spec["height"], spec["width"], 3), dtype=np.uint8)
    labels = np.empty(len(rows), dtype=np.int64)
    for n, (_, label, relative) in enumerate(rows):
        pixels[n] = resize(decode_png((Path(dataset_dir) / relative).read_bytes()), spec)
        labels[n] = label
    return pixels, labels


def roll_columns(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, H, W, 3) charts, each shifted left-right by its own random number of columns, wrapping."""
    n, _, width, _ = batch.shape
    shifts = rng.integers(0, width, size=n)
    columns = (np.arange(width)[None, :] - shifts[:, None]) % width
    return np.take_along_axis(batch, columns[:, None, :, None], axis=2)


def mirror_price(batch: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) resized charts, upside down, with buys and sells swapping colours.

    A resized pixel is a mix of the background, buy and sell colours (the box filter averages,
    and chart-v1 draws no other colour), so the two sides' shares can be read back from its
    channels exactly and swapped."""
    background = np.array(BACKGROUND_RGB, dtype=np.float32)
    sides = np.stack([np.array(BUY_RGB) - background, np.array(SELL_RGB) - background], axis=1)  # 3 x 2
    shares = (batch[:, ::-1].astype(np.float32) - background) @ np.linalg.pinv(sides).T  # .. x 2
    out = background + shares[..., ::-1] @ sides.T
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _batches(n: int, size: int, rng: Optional[np.random.Generator]):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, size):
        yield order[start : start + size]


def _evaluate(
    model: nn.Module, pixels: np.ndarray, labels: np.ndarray, spec: dict, device: torch.device, batch: int
) -> tuple[float, float, np.ndarray]:
    model.eval()
    losses, probs = [], []
    with torch.no_grad():
        for idx in _batches(len(labels), batch, None):
            x = torch.from_numpy(normalise(pixels[idx], spec)).to(device)
            logits = model(x)
            y = torch.from_numpy(labels[idx]).to(device)
            losses.append(nn.functional.cross_entropy(logits, y, reduction="sum").item())
            probs.append(torch.softmax(logits, dim=1).cpu().numpy())
    p = np.concatenate(probs) if probs else np.zeros((0, 2))
    accuracy = float((p.argmax(axis=1) == labels).mean()) if len(labels) else 0.0
    return float(sum(losses) / max(1, len(labels))), accuracy, p


def export_onnx(model: nn.Module, path: Path, spec: dict[str, Any]) -> None:
    wrapped = WithSoftmax(model).cpu().eval()
    example = torch.zeros(1, 3, spec["height"], spec["width"])
    with warnings.catch_warnings():  # the TorchScript exporter announces its deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        _export(wrapped, example, path)


def _export(wrapped: nn.Module, example: torch.Tensor, path: Path) -> None:
    torch.onnx.export(
        wrapped,
        (example,),
        str(path),
        dynamo=False,  # the TorchScript exporter: no onnxscript dependency
        input_names=["image"],
        output_names=["probabilities"],
        dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}},
        opset_version=ONNX_OPSET,
    )


def train(dataset_dir: Path, out_dir: Path, config: TrainConfig) -> dict[str, Any]:
    """Train on `dataset_dir`'s train.lst, stop early on val.lst, write model.onnx + metadata.json."""
    started = time.perf_counter()
    seed_everything(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    spec = config.input_spec
    train_x, train_y = load_split(dataset_dir, "train", spec)
    val_x, val_y = load_split(dataset_dir, "val", spec)
    loaded = time.perf_counter()

    model = build_model(config.architecture, len(CLASS_ORDER)).to(device)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps_per_epoch = -(-len(train_y) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser,
        max_lr=config.learning_rate,
        total_steps=steps_per_epoch * config.max_epochs,
        pct_start=0.15,
    )
    rng = np.random.default_rng(config.seed)
    best: dict[str, Any] = {"val_loss": float("inf")}
    history = []
    stale = 0
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        epoch_started = time.perf_counter()
        total, seen = 0.0, 0
        batches = list(_batches(len(train_y), config.batch_size, rng))
        bar = tqdm(
            batches,
            desc=f"epoch {epoch}",
            unit="batch",
            leave=False,
            disable=None if config.progress else True,
        )
        for idx in bar:
            batch = train_x[idx]
            if config.flip_time:
                mirrored = rng.random(len(idx)) < 0.5
                batch = batch.copy()
                batch[mirrored] = batch[mirrored][:, :, ::-1]
            if config.roll_time:
                batch = roll_columns(batch, rng)
            if config.flip_price:
                flipped = rng.random(len(idx)) < 0.5
                batch = batch.copy()
                batch[flipped] = mirror_price(batch[flipped])
            x = torch.from_numpy(normalise(batch, spec)).to(device)
            y = torch.from_numpy(train_y[idx]).to(device)
            loss = nn.functional.cross_entropy(model(x), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            total += loss.item() * len(idx)
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.4f}")
        val_loss, val_accuracy, _ = _evaluate(model, val_x, val_y, spec, device, 256)
        row = {
            "epoch": epoch,
            "train_loss": round(total / max(1, seen), 6),
            "val_loss": round(val_loss, 6),
            "val_accuracy": round(val_accuracy, 6),
            "seconds": round(time.perf_counter() - epoch_started, 2),
        }
        history.append(row)
        log.info("epoch %s", json.dumps(row))
        if val_loss < best["val_loss"] - 1e-5:
            best = {"val_loss": val_loss, "val_accuracy": val_accuracy, "epoch": epoch}
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            stale = 0
        else:
            stale += 1
            min_epochs = config.min_epochs or config.max_epochs // 2
            if stale >= config.patience and epoch >= min_epochs:
                break
    model.load_state_dict(best_state)
    trained = time.perf_counter()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out_dir / "model.onnx", spec)
    manifest_path = Path(dataset_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    metadata: dict[str, Any] = {
        "class_order": list(CLASS_ORDER),
        "render_version": RENDER_VERSION,
        "input": spec,
        "output": "probabilities",
        "architecture": config.architecture,
        "parameters": count_parameters(model),
        "format": "onnx",
        "onnx_opset": ONNX_OPSET,
        "seed": config.seed,
        "config": {k: v for k, v in asdict(config).items() if k not in ("progress",)},
        "dataset": {k: manifest.get(k) for k in ("seed", "counts", "variants", "render_version", "packages")},
        "training": {
            "device": str(device),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "epochs_run": len(history),
            "best_epoch": best["epoch"],
            "val_loss": round(best["val_loss"], 6),
            "val_accuracy": round(best["val_accuracy"], 6),
            "load_seconds": round(loaded - started, 2),
            "train_seconds": round(trained - loaded, 2),
            "history": history,
        },
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out_dir / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata

"""The local trainer: one dataset, one network, one loop (CPU here, a GPU when present).

Reads the im2rec lists of a dataset directory, decodes each PNG and resizes it with the serving
module's own `resize` (and normalises each batch as its `normalise` does, to the last bit:
`to_tensor`), trains with AdamW (channels-last, in bfloat16 where the hardware has it, the classes
weighted as configured), stops early when validation loss stops improving, keeps the best epoch
and exports it to ONNX (float32) with softmax on top, beside a `metadata.json` and the serving
code (see `training.artifact`).
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

from scoring.chart import RENDER_VERSION, decode_png
from scoring.contracts import CLASS_ORDER
from training.dataset import DEFAULT_SEED, read_lst
from training.models import WithSoftmax, build_model, count_parameters
from training.serving.inference import resize

ONNX_OPSET = 17
THREADS_ENV = "CHARTGUARD_TORCH_THREADS"
log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class TrainConfig:
    """One training run. The recipe fields have no defaults: a profile in `training.pipeline`
    states them (`profile_config`); the rest are the trainer's fixed choices."""

    architecture: str
    # The network's input: the chart resized to height x width (the serving code resizes the same).
    height: int
    width: int
    resize: str = "box"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    batch_size: int = 64
    max_epochs: int
    patience: int  # epochs without a better validation loss before stopping ...
    min_epochs: int  # ... counted only from here on (0: half of max_epochs, once the rate decays)
    learning_rate: float
    weight_decay: float = 1e-4
    seed: int = DEFAULT_SEED
    # torch CPU threads; CHARTGUARD_TORCH_THREADS overrides, 0 means torch's default.
    threads: int = field(default_factory=lambda: int(os.environ.get(THREADS_ENV, "1")))
    # Mirror time (left-right) for a random half of each batch: a bar's buy/sell pair and a
    # schedule of buys read the same backwards, while up/down (price) is never flipped.
    flip_time: bool
    # Rotate time (a circular shift of the columns by a random amount per chart): every bar's
    # column of dots, and so every buy/sell pair inside one bar, is kept whole; only where in the
    # day it happened changes, which says nothing about a theft. Against memorising positions.
    roll_time: bool
    # What a missed thief costs against a false alarm: the hacker class's weight in the loss
    # (normal 1). Above 1 the network's scores lean towards "hacker" (the same as a prior of w:1
    # where the data are 1:1), so the contract's fixed threshold catches more thieves for some
    # more false alarms: an operating point chosen in training.
    hacker_weight: float
    # Arithmetic of the forward and backward passes. "fp32"; "bf16": under torch.autocast in
    # bfloat16 (weights, optimiser state, validation and the exported model stay float32);
    # "auto": bf16 where the hardware computes it natively (a CPU with AMX tiles, a CUDA device
    # with bf16), else fp32. The precision used is recorded in metadata's training section.
    precision: str
    # Feed convolutions channels-last (NHWC): oneDNN's fast layout on CPU. Float32 still, but the
    # kernels sum in another order, so a run gives slightly other weights than without it.
    channels_last: bool = True
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


PRECISIONS = ("fp32", "bf16", "auto")


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 matrix products natively (CPU: AMX tiles)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)  # Ampere and later
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, hence the guard
    return bool(amx and amx())


def resolve_precision(precision: str, device: torch.device) -> str:
    """What a config's `precision` means on `device`: "fp32" or "bf16"."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


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
    out = np.empty_like(batch)
    for chart, shift in enumerate(shifts):  # two slice copies per chart: faster than a gather
        out[chart, :, shift:] = batch[chart, :, : width - shift]
        out[chart, :, :shift] = batch[chart, :, width - shift :]
    return out


def augment(batch: np.ndarray, config: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    """A training batch (N, h, w, 3) uint8 with the config's augmentations applied (a new array)."""
    batch = batch.copy()
    if config.flip_time:
        mirrored = rng.random(len(batch)) < 0.5
        batch[mirrored] = batch[mirrored][:, :, ::-1]
    if config.roll_time:
        batch = roll_columns(batch, rng)
    return batch


def to_tensor(
    pixels: np.ndarray,
    spec: dict[str, Any],
    device: torch.device,
    layout: torch.memory_format = torch.contiguous_format,
) -> torch.Tensor:
    """(N, h, w, 3) uint8 -> (N, 3, h, w) float32 in `layout`: the serving module's `normalise`,
    the same float32 operations in the same order (so the same values), done by torch on the
    batch's own channels-last memory instead of numpy and a transposing copy."""
    x = torch.from_numpy(np.ascontiguousarray(pixels)).to(device).permute(0, 3, 1, 2)
    mean = torch.tensor(spec.get("mean", (0.5, 0.5, 0.5)), dtype=torch.float32, device=device)
    std = torch.tensor(spec.get("std", (0.5, 0.5, 0.5)), dtype=torch.float32, device=device)
    scale = torch.tensor(255.0, dtype=torch.float32, device=device)  # a true division, as numpy's
    x = (x.float() / scale - mean[:, None, None]) / std[:, None, None]
    return x.contiguous(memory_format=layout)


def class_weights(config: TrainConfig, device: torch.device) -> torch.Tensor:
    """The loss's weight per class, in CLASS_ORDER (hacker first)."""
    weights = {"hacker": config.hacker_weight, "normal": 1.0}
    return torch.tensor([weights[name] for name in CLASS_ORDER], dtype=torch.float32, device=device)


def train_step(
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    precision: str,
    weight: Optional[torch.Tensor] = None,
) -> float:
    """One optimiser step on a batch; `precision` "bf16" runs the passes under autocast. Its loss."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits = model(x)
    loss = nn.functional.cross_entropy(logits.float(), y, weight=weight)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return float(loss.item())


def _batches(n: int, size: int, rng: Optional[np.random.Generator]):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, size):
        yield order[start : start + size]


def _evaluate(
    model: nn.Module,
    pixels: np.ndarray,
    labels: np.ndarray,
    spec: dict,
    device: torch.device,
    batch: int,
    layout: torch.memory_format = torch.contiguous_format,
    weight: Optional[torch.Tensor] = None,
) -> tuple[float, float, np.ndarray]:
    """Validation loss (weighted as in training), argmax accuracy and the probabilities."""
    model.eval()
    losses, probs, weights = [], [], 0.0
    with torch.no_grad():
        for idx in _batches(len(labels), batch, None):
            x = to_tensor(pixels[idx], spec, device, layout)
            logits = model(x)
            y = torch.from_numpy(labels[idx]).to(device)
            losses.append(nn.functional.cross_entropy(logits, y, weight=weight, reduction="sum").item())
            weights += float(weight[y].sum()) if weight is not None else len(idx)
            probs.append(torch.softmax(logits, dim=1).cpu().numpy())
    p = np.concatenate(probs) if probs else np.zeros((0, 2))
    accuracy = float((p.argmax(axis=1) == labels).mean()) if len(labels) else 0.0
    return float(sum(losses) / (weights or 1.0)), accuracy, p


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
    if not config.hacker_weight > 0:  # before loading anything
        raise ValueError(f"hacker_weight must be positive, not {config.hacker_weight}")
    started = time.perf_counter()
    seed_everything(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    spec = config.input_spec
    train_x, train_y = load_split(dataset_dir, "train", spec)
    val_x, val_y = load_split(dataset_dir, "val", spec)
    loaded = time.perf_counter()

    precision = resolve_precision(config.precision, device)
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    model = build_model(config.architecture, len(CLASS_ORDER)).to(device)
    model = model.to(memory_format=layout)  # type: ignore[call-overload]  # a documented keyword the stubs omit
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
    weight = class_weights(config, device) if config.hacker_weight != 1.0 else None
    best: dict[str, Any] = {"val_loss": float("inf")}
    best_state: Optional[dict[str, torch.Tensor]] = None
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
            x = to_tensor(augment(train_x[idx], config, rng), spec, device, layout)
            y = torch.from_numpy(train_y[idx]).to(device)
            loss = train_step(model, optimiser, x, y, precision, weight)
            scheduler.step()
            total += loss * len(idx)
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.4f}")
        val_loss, val_accuracy, _ = _evaluate(model, val_x, val_y, spec, device, 256, layout, weight)
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
    if best_state is None:  # every epoch's validation loss was NaN or infinite
        raise RuntimeError(f"no epoch had a finite validation loss: {[row['val_loss'] for row in history]}")
    model.load_state_dict(best_state)
    model = model.to(memory_format=torch.contiguous_format)
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
        "dataset": {
            k: manifest.get(k) for k in ("seed", "counts", "variants", "render_version", "packages", "market")
        },
        "training": {
            "device": str(device),
            "threads": torch.get_num_threads(),
            "precision": precision,
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

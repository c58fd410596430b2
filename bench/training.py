"""Training time and serving latency of the chart classifier on this machine.

    python -m bench.training [--model artifacts/model] [--images 256] [--runs 300]

1. Training: the figures recorded when the artifact was built (whole build, per epoch), and a
   fresh measurement of one training epoch of each network on `--images` rendered charts through
   the trainer's own batch path (augmentation, tensor, step) in the default profile's precision
   and layout, and the narrow ResNet also in float32 channels-last (what a CPU without AMX runs)
   and float32 without channels-last (the trainer before either), extrapolated to the default
   profile's training split (about 22,500 charts, on its threads); per batch, the preparation
   (augmentation and tensor) apart from the optimiser step.
2. Serving: batch-1 latency of the artifact's own code/inference.py (PNG bytes in, JSON out), and
   of the bare onnxruntime call, p50 / p99 over `--runs` requests after a warm-up.
The machine is shared: read the figures as of this run, with the load average printed beside.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from chartguard.percentiles import percentile


def _load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def recorded_training(model_dir: Path) -> None:
    meta = json.loads((model_dir / "metadata.json").read_text())
    training = meta["training"]
    epochs = [row["seconds"] for row in training["history"]]
    counts = (meta.get("dataset") or {}).get("counts") or {}
    print(
        f"recorded build of {model_dir}: {meta['architecture']} ({meta.get('profile')}), "
        f"{counts.get('hacker_train', '?')}+{counts.get('normal_train', '?')} train charts, "
        f"{training['epochs_run']} epochs (best {training['best_epoch']}), "
        f"epoch p50 {np.median(epochs):.1f} s, training {training['train_seconds'] / 60:.1f} min, "
        f"whole build {training.get('total_seconds', 0) / 60:.1f} min on {training['threads']} threads "
        f"({training['device']})"
    )


def epoch_time(images: int) -> None:
    import dataclasses

    import torch

    from training.dataset import VAL_FRACTION, build_dataset
    from training.models import build_model
    from training.pipeline import PROFILES, profile_threads
    from training.train import TrainConfig, augment, load_split, resolve_precision, to_tensor, train_step

    profile = TrainConfig(**PROFILES["default"]["train"])  # the default build's input and augmentation
    with tempfile.TemporaryDirectory() as tmp:
        build_dataset(
            Path(tmp) / "d", images // 2, images // 2, seed=99, val_fraction=0.0, days=10, progress=False
        )
        pixels, labels = load_split(Path(tmp) / "d", "train", profile.input_spec)
    if profile_threads("default"):  # as the default profile's build does
        torch.set_num_threads(profile_threads("default"))
    device = torch.device("cpu")
    split = round(PROFILES["default"]["images_per_class"] * 2 * (1 - VAL_FRACTION))
    runs = [(name, profile.precision, profile.channels_last) for name in ("small_cnn", "resnet18_narrow")]
    runs += [("resnet18_narrow", "fp32", True)]  # what a CPU without AMX runs
    runs += [("resnet18_narrow", "fp32", False)]  # float32 without channels-last, for the ratio
    for architecture, precision, channels_last in runs:
        config = dataclasses.replace(
            profile, architecture=architecture, precision=precision, channels_last=channels_last
        )
        arithmetic = resolve_precision(config.precision, device)
        layout = torch.channels_last if config.channels_last else torch.contiguous_format
        model = build_model(architecture).to(memory_format=layout)
        optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
        rng = np.random.default_rng(0)
        model.train()
        preparing = stepping = 0.0
        for start in range(0, len(labels), config.batch_size):  # the trainer's own batch path
            began = time.perf_counter()
            batch = augment(pixels[start : start + config.batch_size], config, rng)
            x = to_tensor(batch, config.input_spec, device, layout)
            y = torch.from_numpy(labels[start : start + config.batch_size])
            prepared = time.perf_counter()
            train_step(model, optimiser, x, y, arithmetic)
            preparing += prepared - began
            stepping += time.perf_counter() - prepared
        seconds, batches = preparing + stepping, -(-len(labels) // config.batch_size)
        how = f"{arithmetic}{', channels-last' if channels_last else ''}"
        print(
            f"one epoch, {architecture} ({how}), {len(labels)} charts at {config.width}x{config.height}: "
            f"{seconds:.1f} s -> {seconds / len(labels) * split:.0f} s per epoch of the default profile's "
            f"~{split:,}-chart split (torch threads {torch.get_num_threads()}); per batch of "
            f"{config.batch_size}: preparation {1000 * preparing / batches:.1f} ms, "
            f"step {1000 * stepping / batches:.0f} ms"
        )


def serving_latency(model_dir: Path, runs: int) -> None:
    from bench.common import sample_day
    from scoring.chart import render_chart
    from training.evaluate import load_serving_module

    bars, trades = sample_day(seed=1)
    symbol = trades[0].symbol
    png = render_chart(bars[symbol], [t for t in trades if t.symbol == symbol])
    serving = load_serving_module(model_dir)
    model = serving.model_fn(str(model_dir))
    full, bare = [], []
    tensor = serving.preprocess(serving.input_fn(png, "image/png"), model["spec"])[None]
    for phase in ("warm", "measure"):
        for _ in range(20 if phase == "warm" else runs):
            started = time.perf_counter()
            serving.output_fn(
                serving.predict_fn(serving.input_fn(png, "image/png"), model), "application/json"
            )
            middle = time.perf_counter()
            model["session"].run(None, {model["input_name"]: tensor})
            done = time.perf_counter()
            if phase == "measure":
                full.append((middle - started) * 1000)
                bare.append((done - middle) * 1000)
    print(f"serving {model_dir} ({model['metadata']['architecture']}), batch 1, {runs} requests:")
    print(
        f"  PNG -> JSON via code/inference.py  p50 {np.median(full):6.2f} ms  p99 {percentile(full, 99):6.2f} ms"
    )
    print(
        f"  onnxruntime run alone              p50 {np.median(bare):6.2f} ms  p99 {percentile(bare, 99):6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=Path("artifacts/model"))
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--skip-epoch", action="store_true", help="skip the fresh epoch measurement")
    args = parser.parse_args()
    print(f"bench.training: {os.cpu_count()} cores, load average {_load_average()}")
    if not (args.model / "metadata.json").exists():
        from training.pipeline import ensure_model

        ensure_model(args.model, progress=False)
    recorded_training(args.model)
    if not args.skip_epoch:
        epoch_time(args.images)
    serving_latency(args.model, args.runs)


if __name__ == "__main__":
    main()

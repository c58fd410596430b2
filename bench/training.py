"""Training time and serving latency of the chart classifier on this machine.

    python -m bench.training [--model artifacts/model] [--images 256] [--runs 300]

1. Training: the figures recorded when the artifact was built (whole build, per epoch), and a
   fresh measurement of one training epoch of each network on `--images` rendered charts,
   extrapolated to the default profile's training split (about 15,000 charts, on its threads).
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
    import torch

    from training.dataset import VAL_FRACTION, build_dataset
    from training.models import build_model
    from training.pipeline import PROFILES, profile_threads
    from training.serving.inference import normalise
    from training.train import TrainConfig, load_split

    with tempfile.TemporaryDirectory() as tmp:
        build_dataset(
            Path(tmp) / "d", images // 2, images // 2, seed=99, val_fraction=0.0, days=10, progress=False
        )
        spec = TrainConfig().input_spec
        pixels, labels = load_split(Path(tmp) / "d", "train", spec)
    if profile_threads("default"):  # as the default profile's build does
        torch.set_num_threads(profile_threads("default"))
    split = round(PROFILES["default"]["images_per_class"] * 2 * (1 - VAL_FRACTION))
    for architecture in ("small_cnn", "resnet18_narrow", "resnet18_narrow_keepx", "resnet18"):
        model = build_model(architecture)
        optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
        model.train()
        started = time.perf_counter()
        for start in range(0, len(labels), 64):
            x = torch.from_numpy(normalise(pixels[start : start + 64], spec))
            y = torch.from_numpy(labels[start : start + 64])
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        seconds = time.perf_counter() - started
        print(
            f"one epoch, {architecture}, {len(labels)} charts at {spec['width']}x{spec['height']}: {seconds:.1f} s "
            f"-> {seconds / len(labels) * split:.0f} s per epoch of the default profile's ~{split:,}-chart split "
            f"(torch threads {torch.get_num_threads()})"
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

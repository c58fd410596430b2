"""`python -m training <command>`: the training side's command line (the Makefile calls it).

model     build artifacts/model if absent (cached; --quick for the fast profile, --force to rebuild)
dataset   simulate and render a dataset directory (im2rec layout)
train     train a network on a dataset directory into a model directory
evaluate  score a held-out simulated set with the artifact; write the report and ROC plot
pack      (re)pack model.tar.gz for SageMaker
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from training.dataset import DEFAULT_SEED, EVALUATION_SEED
from training.models import ARCHITECTURES
from training.train import PRECISIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n")[0])
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)

    model = commands.add_parser("model", help="build the default model if absent")
    model.add_argument("--out", type=Path, default=Path("artifacts/model"))
    model.add_argument("--quick", action="store_true", help="small CNN on 500 + 500 images (< 2 min)")
    model.add_argument("--force", action="store_true", help="rebuild even when present")

    dataset = commands.add_parser("dataset", help="simulate and render a dataset")
    dataset.add_argument("--out", type=Path, required=True)
    dataset.add_argument("--hacker", type=int, default=2000)
    dataset.add_argument("--normal", type=int, default=2000)
    dataset.add_argument("--seed", type=int, default=DEFAULT_SEED)
    dataset.add_argument("--workers", type=int, default=1, help="render in this many processes")

    train = commands.add_parser("train", help="train on a dataset directory")
    train.add_argument("--dataset", type=Path, required=True)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--architecture", default="resnet18", choices=ARCHITECTURES)
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--height", type=int, default=40)
    train.add_argument("--width", type=int, default=250)
    train.add_argument("--seed", type=int, default=DEFAULT_SEED)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--patience", type=int, default=3)
    train.add_argument(
        "--min-epochs", type=int, default=0, help="no early stop before this epoch (0: half of --epochs)"
    )
    train.add_argument("--flip-time", action="store_true", help="augment: mirror time for half of each batch")
    train.add_argument(
        "--roll-time", action="store_true", help="augment: rotate each chart's columns at random"
    )
    train.add_argument(
        "--flip-price",
        action="store_true",
        help="augment: mirror price and swap buy/sell for half of each batch",
    )
    train.add_argument(
        "--hacker-weight",
        type=float,
        default=1.0,
        help="loss weight of the hacker class (normal 1): >1 trades false alarms for caught thieves",
    )
    train.add_argument(
        "--precision",
        default="fp32",
        choices=PRECISIONS,
        help="bf16: mixed precision (autocast); auto: bf16 where the hardware has it natively",
    )

    evaluate = commands.add_parser("evaluate", help="held-out evaluation report")
    evaluate.add_argument("--model", type=Path, default=Path("artifacts/model"))
    evaluate.add_argument("--out", type=Path, default=Path("docs/evaluation"))
    evaluate.add_argument("--work", type=Path, default=Path("artifacts/evaluation"))
    evaluate.add_argument("--images", type=int, default=2000, help="held-out images per class")
    evaluate.add_argument("--seed", type=int, default=EVALUATION_SEED)
    evaluate.add_argument("--training-dataset", type=Path, default=None, help="for the tabular baseline")

    pack = commands.add_parser("pack", help="pack model.tar.gz")
    pack.add_argument("--model", type=Path, default=Path("artifacts/model"))

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    progress = not args.no_progress

    if args.command == "model":
        from training.pipeline import build_model, ensure_model, model_lock, quick_requested

        if args.force:  # under ensure_model's lock, so a concurrent ensure_model waits for it
            with model_lock(args.out):
                profile = "quick" if args.quick or quick_requested() else "default"
                build_model(args.out, profile, progress=progress)
        ensure_model(args.out, quick=args.quick, progress=progress)
        from training.artifact import read_metadata

        meta = read_metadata(args.out)
        summary = {k: meta.get(k) for k in ("profile", "architecture", "render_version", "class_order")}
        summary["val_accuracy"] = meta["training"]["val_accuracy"]
        print(json.dumps({"model_dir": str(args.out), **summary}))
    elif args.command == "dataset":
        from training.dataset import build_dataset

        manifest = build_dataset(
            args.out, args.hacker, args.normal, seed=args.seed, progress=progress, workers=args.workers
        )
        print(json.dumps(manifest["counts"]))
    elif args.command == "train":
        from training.artifact import pack_model, write_serving_code
        from training.train import TrainConfig
        from training.train import train as run_training

        config = TrainConfig(
            architecture=args.architecture,
            max_epochs=args.epochs,
            height=args.height,
            width=args.width,
            seed=args.seed,
            learning_rate=args.learning_rate,
            patience=args.patience,
            min_epochs=args.min_epochs,
            flip_time=args.flip_time,
            roll_time=args.roll_time,
            flip_price=args.flip_price,
            precision=args.precision,
            hacker_weight=args.hacker_weight,
            progress=progress,
        )
        meta = run_training(args.dataset, args.out, config)
        write_serving_code(args.out)
        pack_model(args.out)
        print(json.dumps({k: meta["training"][k] for k in ("epochs_run", "val_accuracy", "train_seconds")}))
    elif args.command == "evaluate":
        from training.evaluate import run_evaluation

        report = run_evaluation(
            args.model,
            args.out,
            work_dir=args.work,
            images_per_class=args.images,
            seed=args.seed,
            training_dataset=args.training_dataset,
            progress=progress,
        )
        print(report)
    elif args.command == "pack":
        from training.artifact import pack_model

        print(pack_model(args.model))
    return 0


if __name__ == "__main__":
    sys.exit(main())

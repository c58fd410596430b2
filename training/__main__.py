"""`python -m training <command>`: the training side's command line (the Makefile calls it).

model     build artifacts/model if absent (cached; --quick for the fast profile, --force to rebuild)
dataset   simulate and render a dataset directory (im2rec layout), on the synthetic market or on
          real bars (--klines-csv SYMBOL=CSV, --alphavantage SYMBOL)
train     train a network on a dataset directory into a model directory (the recipe `make model`
          trains, --profile's, with the flags given on top)
evaluate  score a held-out simulated set with the artifact; write the report and ROC plot
pack      (re)pack model.tar.gz for SageMaker
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

from scoring.market import Kline
from training.dataset import DEFAULT_SEED, EVALUATION_SEED
from training.evaluate import HELDOUT_IMAGES
from training.models import ARCHITECTURES
from training.pipeline import PROFILES, profile_config
from training.train import PRECISIONS, TrainConfig

PROFILE_DEFAULT = "(default: the profile's)"


def train_config(args: argparse.Namespace, progress: bool = True) -> TrainConfig:
    """`train`'s TrainConfig: the profile's recipe as `make model` builds it (threads included),
    every flag given on top."""
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    given = {key: value for key, value in vars(args).items() if key in fields and value is not None}
    return profile_config(args.profile, progress=progress, **given)


def given_market(
    csv_specs: list[str], alphavantage: list[str], month: str | None = None
) -> tuple[dict[str, list[Kline]] | None, dict[str, Any] | None]:
    """`dataset`'s real market, if asked for: ({symbol: bars}, where they came from) or (None, None).

    CSV files are named in the manifest by file name and SHA-256, never by their directory.
    Every symbol is checked before any file is read or any bar fetched."""
    if month and not alphavantage:
        raise ValueError("--month goes with --alphavantage")
    if not csv_specs and not alphavantage:
        return None, None
    from training.market_data import AlphaVantageClient, load_csv

    files: dict[str, str] = {}
    for spec in csv_specs:
        symbol, sep, path = spec.partition("=")
        if not sep or not symbol.strip() or not path:
            raise ValueError(f"--klines-csv {spec!r}: expected SYMBOL=CSV, e.g. BTC-USD=btc.csv")
        if symbol.strip() in files:
            raise ValueError(f"--klines-csv: {symbol.strip()} given twice")
        files[symbol.strip()] = path
    for symbol in alphavantage:
        if symbol in files:
            raise ValueError(f"{symbol} given by both --klines-csv and --alphavantage")
    if len(set(alphavantage)) < len(alphavantage):
        raise ValueError("--alphavantage: a symbol given twice")

    klines: dict[str, list[Kline]] = {}
    source: dict[str, Any] = {}
    for symbol, path in files.items():
        klines[symbol] = load_csv(path, symbol)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        source.setdefault("csv", {})[symbol] = {"file": Path(path).name, "sha256": digest}
    if alphavantage:
        client = AlphaVantageClient()
        for symbol in alphavantage:
            klines[symbol] = client.intraday(symbol, month=month)
        source["alphavantage"] = {"symbols": list(alphavantage), "month": month}
    return klines, source


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n")[0])
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)

    model = commands.add_parser("model", help="build the default model if absent")
    model.add_argument("--out", type=Path, default=Path("artifacts/model"))
    model.add_argument(
        "--quick", action="store_true", help="the quick profile: a small CNN on 500 + 500 images"
    )
    model.add_argument("--force", action="store_true", help="rebuild even when present")

    dataset = commands.add_parser("dataset", help="simulate and render a dataset")
    dataset.add_argument("--out", type=Path, required=True)
    dataset.add_argument("--hacker", type=int, default=2000)
    dataset.add_argument("--normal", type=int, default=2000)
    dataset.add_argument("--seed", type=int, default=DEFAULT_SEED)
    dataset.add_argument("--workers", type=int, default=1, help="render in this many processes")
    dataset.add_argument(
        "--klines-csv",
        action="append",
        default=[],
        metavar="SYMBOL=CSV",
        help="simulate the accounts on these 5-minute bars (open_time,open,high,low,close[,volume]) "
        "instead of the synthetic market; once per symbol",
    )
    dataset.add_argument(
        "--alphavantage",
        action="append",
        default=[],
        metavar="SYMBOL",
        help="the same with bars fetched from Alpha Vantage (key: ALPHAVANTAGE_API_KEY or the secret "
        "named by ALPHAVANTAGE_SECRET_NAME); once per symbol",
    )
    dataset.add_argument(
        "--month", help="with --alphavantage: the month to fetch (YYYY-MM; default: the latest)"
    )

    train = commands.add_parser(
        "train",
        help="train on a dataset directory",
        description="Train a network on a dataset directory, starting from a profile's recipe (the one "
        "`make model` trains: its network, schedule, augmentation, weight, precision and threads); "
        "the flags given override it.",
    )
    train.add_argument("--dataset", type=Path, required=True)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="default",
        help="the recipe to start from (default: %(default)s)",
    )
    train.add_argument("--architecture", choices=ARCHITECTURES, help=PROFILE_DEFAULT)
    train.add_argument("--epochs", type=int, dest="max_epochs", metavar="N", help=PROFILE_DEFAULT)
    train.add_argument("--height", type=int, help=PROFILE_DEFAULT)
    train.add_argument("--width", type=int, help=PROFILE_DEFAULT)
    train.add_argument("--seed", type=int, default=DEFAULT_SEED)
    train.add_argument("--learning-rate", type=float, help=PROFILE_DEFAULT)
    train.add_argument("--patience", type=int, help=PROFILE_DEFAULT)
    train.add_argument(
        "--min-epochs",
        type=int,
        help=f"no early stop before this epoch (0: half of --epochs) {PROFILE_DEFAULT}",
    )
    train.add_argument(
        "--flip-time",
        action=argparse.BooleanOptionalAction,
        help=f"augment: mirror time for half of each batch {PROFILE_DEFAULT}",
    )
    train.add_argument(
        "--roll-time",
        action=argparse.BooleanOptionalAction,
        help=f"augment: rotate each chart's columns at random {PROFILE_DEFAULT}",
    )
    train.add_argument(
        "--hacker-weight",
        type=float,
        help="loss weight of the hacker class (normal 1): >1 trades false alarms for caught thieves"
        f" {PROFILE_DEFAULT}",
    )
    train.add_argument(
        "--precision",
        choices=PRECISIONS,
        help=f"bf16: mixed precision (autocast); auto: bf16 where the hardware has it natively {PROFILE_DEFAULT}",
    )

    evaluate = commands.add_parser("evaluate", help="held-out evaluation report")
    evaluate.add_argument("--model", type=Path, default=Path("artifacts/model"))
    evaluate.add_argument("--out", type=Path, default=Path("docs/evaluation"))
    evaluate.add_argument("--work", type=Path, default=Path("artifacts/evaluation"))
    evaluate.add_argument(
        "--images", type=int, default=HELDOUT_IMAGES, help="held-out images per class (default: %(default)s)"
    )
    evaluate.add_argument("--seed", type=int, default=EVALUATION_SEED)
    evaluate.add_argument("--training-dataset", type=Path, default=None, help="for the tabular baseline")

    pack = commands.add_parser("pack", help="pack model.tar.gz")
    pack.add_argument("--model", type=Path, default=Path("artifacts/model"))

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
        from training.dataset import MarketError, build_dataset
        from training.market_data import AlphaVantageError

        try:
            klines, source = given_market(args.klines_csv, args.alphavantage, args.month)
        except (OSError, ValueError, AlphaVantageError) as error:
            print(f"python -m training dataset: error: {error}", file=sys.stderr)
            return 2
        try:
            manifest = build_dataset(
                args.out,
                args.hacker,
                args.normal,
                seed=args.seed,
                progress=progress,
                workers=args.workers,
                klines=klines,
                market_source=source,
            )
        except MarketError as error:  # bars no account can trade; other errors keep their traceback
            print(f"python -m training dataset: error: {error}", file=sys.stderr)
            return 2
        print(json.dumps(manifest["counts"]))
    elif args.command == "train":
        from training.artifact import pack_model, write_serving_code
        from training.train import train as run_training

        meta = run_training(args.dataset, args.out, train_config(args, progress))
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

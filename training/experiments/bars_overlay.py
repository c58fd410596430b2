"""What if the chart showed each bar's range? (an experiment, not the product's render version)

Contract 5 (`chart-v1`) draws the trades only, never the bars, so the image cannot say whether a
buy sits at its bar's low: the fact a thief's fills give away and the round-trip features use.
This experiment renders `chart-v1` plus every bar's low-high range as a 1 px light-grey line
under the dots ("bars-overlay"; `--traded-only`: only the bars the account traded in), trains a
profile on it, and evaluates on a held-out set rendered the same way, for a like-for-like
comparison with `chart-v1`. Findings: docs/training.md.

    python -m training.experiments.bars_overlay [--traded-only] [--profile quick|default]
        [--architecture NAME] [--width W --height H] [--min-epochs N]
        [--out artifacts/experiments/bars-overlay]
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scoring.chart import (
    BUY_RGB,
    DOT_STYLE,
    DPI,
    HEIGHT_PX,
    MARGIN_PX,
    SELL_RGB,
    WIDTH_PX,
    chart_points,
    encode_png,
)
from scoring.market import Kline, Trade

RENDER_VERSION = "experiment-bars-overlay"
TRADED_VERSION = "experiment-traded-bars"
BAR_GREY = (0.82, 0.82, 0.82)


class _OverlayCanvas:
    def __init__(self) -> None:
        self.figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, facecolor="white")
        self.canvas = FigureCanvasAgg(self.figure)
        inset_x, inset_y = MARGIN_PX / WIDTH_PX, MARGIN_PX / HEIGHT_PX
        self.axes = self.figure.add_axes((inset_x, inset_y, 1 - 2 * inset_x, 1 - 2 * inset_y))
        self.lock = threading.Lock()

    def draw(self, bars: Sequence[Kline], trades: Sequence[Trade], traded_only: bool = False) -> np.ndarray:
        points = chart_points(bars, trades)
        if traded_only:  # only the bars the account traded in: no neighbours to blur them
            shown = sorted({int(x) for x in np.concatenate([points.buy_x, points.sell_x])})
        else:
            shown = list(range(len(bars)))
        with self.lock:
            axes = self.axes
            axes.clear()
            axes.set_axis_off()
            axes.vlines(
                shown,
                [bars[i].low for i in shown],
                [bars[i].high for i in shown],
                colors=[BAR_GREY],
                linewidth=72 / DPI,
                antialiased=False,
            )
            style: dict[str, Any] = {**DOT_STYLE, "antialiased": False, "clip_on": False}
            axes.plot(points.buy_x, points.buy_y, color=np.array(BUY_RGB) / 255, **style)
            axes.plot(points.sell_x, points.sell_y, color=np.array(SELL_RGB) / 255, **style)
            axes.set_xlim(*points.xlim)
            axes.set_ylim(*points.ylim)
            self.canvas.draw()
            return np.ascontiguousarray(np.asarray(self.canvas.buffer_rgba())[:, :, :3])


_canvas: Optional[_OverlayCanvas] = None


def _shared() -> _OverlayCanvas:
    global _canvas
    if _canvas is None:
        _canvas = _OverlayCanvas()
    return _canvas


def render_with_bars(bars: Sequence[Kline], trades: Sequence[Trade]) -> bytes:
    return encode_png(_shared().draw(bars, trades))


def render_with_traded_bars(bars: Sequence[Kline], trades: Sequence[Trade]) -> bytes:
    return encode_png(_shared().draw(bars, trades, traded_only=True))


def main() -> None:
    import logging

    from training.artifact import write_serving_code
    from training.dataset import DEFAULT_SEED, EVALUATION_SEED, build_dataset
    from training.evaluate import run_evaluation
    from training.pipeline import PROFILES, profile_threads
    from training.train import TrainConfig, train

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("artifacts/experiments/bars-overlay"))
    parser.add_argument("--traded-only", action="store_true", help="draw only the bars traded in")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--images", type=int, help="charts per class (default: the profile's)")
    parser.add_argument("--width", type=int, help="the network's input width (default: the profile's)")
    parser.add_argument("--height", type=int, help="the network's input height (default: the profile's)")
    parser.add_argument("--architecture", help="override the profile's network")
    parser.add_argument(
        "--min-epochs", type=int, help="no early stop before this epoch (default: the profile's)"
    )
    parser.add_argument("--heldout", type=int, default=2000)
    parser.add_argument(
        "--baseline-dataset",
        type=Path,
        help="the tabular baseline's training charts (default: this run's own)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    renderer = render_with_traded_bars if args.traded_only else render_with_bars
    version = TRADED_VERSION if args.traded_only else RENDER_VERSION
    images = args.images or PROFILES[args.profile]["images_per_class"]
    data = args.out / f"dataset-{images}"
    if not (data / "manifest.json").exists():
        build_dataset(
            data,
            images,
            images,
            seed=DEFAULT_SEED,
            progress=False,
            renderer=renderer,
            render_version=version,
        )
    model = args.out / "model"
    train_settings = dict(PROFILES[args.profile]["train"])
    overrides = {
        "architecture": args.architecture,
        "width": args.width,
        "height": args.height,
        "min_epochs": args.min_epochs,
    }
    train_settings.update({key: value for key, value in overrides.items() if value is not None})
    threads = profile_threads(args.profile)
    config = TrainConfig(seed=DEFAULT_SEED, progress=False, threads=threads, **train_settings)
    meta = train(data, model, config)
    meta["render_version"] = version
    meta["profile"] = args.profile
    (model / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    write_serving_code(model)
    report = run_evaluation(
        model,
        args.out / "report",
        work_dir=args.out,
        images_per_class=args.heldout,
        seed=EVALUATION_SEED,
        training_dataset=args.baseline_dataset or data,
        progress=False,
        renderer=renderer,
    )
    print(report)


if __name__ == "__main__":
    main()

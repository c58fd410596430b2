"""How far can what chart-v1 shows take a classifier? (an experiment: an estimate of the image's ceiling)

The round-trip baseline reads each fill's place inside its own bar's range from the klines, which
contract 5 does not draw. This experiment gives gradient boosting only what a chart-v1 picture
holds: each dot's bar index and its price on the window's scale (lowest low to highest high), the
side by colour, and nothing about any single bar. `--grid W H` first snaps every dot to the
column and row it falls in on a W x H picture (e.g. the network's 250 x 40 input). It is an upper
estimate, not a measurement of a picture: it still counts trades exactly, which overlapping dots
can hide. If even it fell as short of the issue's targets as the networks do, the ceiling would be
the picture's; it does not.

    python -m training.experiments.picture_features [--images 2000] [--grid 250 40]
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

import numpy as np

from scoring.market import Kline, Trade, bar_open_time
from training.dataset import DEFAULT_SEED, EVALUATION_SEED, market, simulate_charts, split_accounts
from training.evaluate import THRESHOLD, binary_metrics
from training.features import chart_features

# Bars whose dots overlap sideways on a 244 px wide plot (288 bars, 5 px dots).
NEIGHBOURHOOD_BARS = 5


def _pairs(xs: np.ndarray, ys: np.ndarray, sides: np.ndarray, reach: int) -> list[float]:
    """Per group of dots within `reach` bars of each other: mean sell height - mean buy height."""
    spreads = []
    for x in np.unique(xs):
        near = np.abs(xs - x) <= reach
        buys, sells = ys[near & (sides == 0)], ys[near & (sides == 1)]
        if len(buys) and len(sells):
            spreads.append(float(sells.mean() - buys.mean()))
    return spreads


def picture_features(
    bars: Sequence[Kline], trades: Sequence[Trade], grid: Optional[tuple[int, int]] = None
) -> list[float]:
    """Features of the dots only; with `grid` (width, height) each dot snapped to its pixel."""
    index_of = {bar.open_time: i for i, bar in enumerate(bars)}
    low = min(min(b.low for b in bars), min(t.price for t in trades))
    high = max(max(b.high for b in bars), max(t.price for t in trades))
    span = (high - low) or 1.0
    xs = np.array([index_of[bar_open_time(t.traded_at)] for t in trades], dtype=float)
    ys = np.array([(t.price - low) / span for t in trades])
    if grid is not None:
        width, height = grid
        xs = np.floor((xs + 0.5) / len(bars) * width)
        ys = np.round(ys * height) / height
    sides = np.array([0 if t.side == "BUY" else 1 for t in trades])
    out = [float(len(trades)), float(sides.mean()), float(len(np.unique(xs)))]
    for reach in (0, 1 if grid is not None else NEIGHBOURHOOD_BARS // 2):
        spreads = _pairs(xs, ys, sides, reach)
        positive = [s for s in spreads if s > 0]
        out += [
            float(len(spreads)),
            float(len(positive)),
            float(np.max(spreads)) if spreads else 0.0,
            float(np.mean(spreads)) if spreads else 0.0,
            float(np.sum(positive)),
            float(np.median(positive)) if positive else 0.0,
        ]
    return out


def _table(
    seed: int, images: int, grid: Optional[tuple[int, int]]
) -> tuple[list, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    charts = simulate_charts(market(seed), images, images, seed)
    split = split_accounts([c.account.user_id for c in charts], seed)
    picture = np.array([picture_features(c.bars, c.trades, grid) for c in charts])
    klines = np.array([chart_features(c.bars, c.trades) for c in charts])
    labels = np.array([c.account.label == "hacker" for c in charts])
    return (
        [split[c.account.user_id] for c in charts],
        picture,
        klines,
        labels,
        [c.account.variant for c in charts],
    )


def main() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--grid", type=int, nargs=2, metavar=("W", "H"), help="snap dots to a W x H picture")
    args = parser.parse_args()
    grid = tuple(args.grid) if args.grid else None
    splits, train_picture, train_klines, train_y, _ = _table(DEFAULT_SEED, args.images, grid)
    keep = np.array([s == "train" for s in splits])
    _, test_picture, test_klines, test_y, variants = _table(EVALUATION_SEED, args.images, grid)
    for name, train_x, test_x in (
        ("what chart-v1 shows (dot places on the window's scale)", train_picture, test_picture),
        ("round-trip features (each fill inside its own bar)", train_klines, test_klines),
    ):
        model = HistGradientBoostingClassifier(random_state=0).fit(train_x[keep], train_y[keep])
        p = model.predict_proba(test_x)[:, 1]
        m = binary_metrics(test_y, p)
        print(
            f"{name}: accuracy {m['accuracy']:.2%}, ROC AUC {m['roc_auc']:.4f}, "
            f"recall@{THRESHOLD} {m['recall_at_threshold']:.2%}, FPR {m['fpr_at_threshold']:.2%}"
        )
        for variant in sorted(set(variants)):
            rows = np.array([v == variant for v in variants])
            hit = (p[rows] > THRESHOLD).mean()
            print(f"    {variant:14s} {'recall' if test_y[rows].all() else 'FPR   '} {hit:.2%}")


if __name__ == "__main__":
    main()

"""Render time per chart image: a new figure per image vs the renderer's reused figure (blitting).

    python -m bench.render [--images 300]

Both paths draw the same pixels (tests/unit/test_chart.py proves it); compare the ratio, since
this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bench.common import sample_day
from chartguard.percentiles import percentile
from scoring import chart
from scoring.chart import chart_points, encode_png, render_chart


def render_with_new_figure(bars, trades) -> bytes:
    """What a straightforward implementation does: build, draw and encode a figure per image."""
    canvas = chart._Canvas()
    canvas.set_points(chart_points(bars, trades))
    canvas.canvas.draw()
    return encode_png(np.ascontiguousarray(np.asarray(canvas.canvas.buffer_rgba())[:, :, :3]))


def measure(render, cases, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        for bars, trades in cases:
            started = time.perf_counter()
            render(bars, trades)
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300)
    args = parser.parse_args()
    cases = []
    for seed in range(10):
        bars, trades = sample_day(seed=seed, n_trades=10 + seed * 2)
        cases.append((bars["BTC-USD"], [t for t in trades if t.symbol == "BTC-USD"]))
    repeat = max(1, args.images // len(cases))
    render_chart(*cases[0])  # build the shared figure outside the timing (first use)
    render_with_new_figure(*cases[0])
    reused = measure(render_chart, cases, repeat)
    fresh = measure(render_with_new_figure, cases, repeat)
    print(f"render, {len(reused)} images of 288 bars, 10-28 trades (ms per image)")
    for name, values in (("new figure", fresh), ("reused figure", reused)):
        print(
            f"  {name:14s} p50 {statistics.median(values):6.2f}  p99 {percentile(values, 99):6.2f}  mean {statistics.fmean(values):6.2f}"
        )
    print(f"  speed-up (p50): {statistics.median(fresh) / statistics.median(reused):.1f}x")


if __name__ == "__main__":
    main()

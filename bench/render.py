"""Render time per chart image, split into its steps: placing the trades on their bars, stamping
the dots, encoding the PNG.

    python -m bench.render [--images 300]

Compare the steps' ratios within one run, since this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

from bench.common import sample_cases
from chartguard.percentiles import percentile
from scoring.chart import chart_points, draw_points, encode_png, render_chart


def measure(step: Callable[..., Any], cases: list[tuple[Any, ...]], repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        for case in cases:
            started = time.perf_counter()
            step(*case)
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300)
    args = parser.parse_args()
    cases = sample_cases()
    repeat = max(1, args.images // len(cases))
    points = [(chart_points(*case),) for case in cases]
    pixels = [(draw_points(*case),) for case in points]
    steps = (
        ("place trades", measure(chart_points, cases, repeat)),
        ("stamp dots", measure(draw_points, points, repeat)),
        ("encode PNG", measure(encode_png, pixels, repeat)),
        ("whole render", measure(render_chart, cases, repeat)),
    )
    print(f"render, {repeat * len(cases)} images of 288 bars, 10-28 trades (ms per image)")
    for name, values in steps:
        print(
            f"  {name:13s} p50 {statistics.median(values):6.3f}  p99 {percentile(values, 99):6.3f}"
            f"  mean {statistics.fmean(values):6.3f}"
        )


if __name__ == "__main__":
    main()

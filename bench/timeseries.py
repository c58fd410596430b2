"""Time to score a 10,000-point series with each time-series detector, the LSTM's training included.

    python -m bench.timeseries [--points 10000] [--runs 3]

The series is a planted one (5-minute counts with a daily rhythm and a spike), scored with the
default learning period, so the LSTM trains on its first 750 points and retrains as it goes.
Prints the median and the slowest of `--runs` runs per detector. The machine is shared: read the
figures as of this run, with the load average printed beside.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from anomalies import planted, timeseries


def _load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.timeseries", description=__doc__)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    days = args.points // 288 + 1
    series = planted.planted_series("spike", days=days, seed=1)
    stamps, values = series.timestamps[: args.points], series.values[: args.points]
    print(
        f"time-series detectors on {len(values):,} points, {args.runs} runs each (load average {_load_average()})"
    )
    for detector in timeseries.DETECTORS:
        seconds = []
        for _ in range(args.runs):
            started = time.perf_counter()
            timeseries.detect(stamps, values, detector=detector)
            seconds.append(time.perf_counter() - started)
        print(f"  {detector:10s} median {np.median(seconds):7.2f} s   slowest {max(seconds):7.2f} s")


if __name__ == "__main__":
    main()

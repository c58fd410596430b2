"""CPU time of the round-trip features and the reasons, per symbol, as the function computes them.

    python -m bench.features [--symbols 300]

The same inputs as `bench.render` (288 five-minute bars, 10-28 trades of one symbol); the
function computes the features for every symbol it charts and the reasons for a flagged record.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import sample_cases
from chartguard.percentiles import percentile
from scoring.reasons import reasons
from scoring.round_trip import named_round_trip_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=300)
    args = parser.parse_args()
    cases = sample_cases()
    named_round_trip_features(*cases[0])
    features, sentences = [], []
    for _ in range(max(1, args.symbols // len(cases))):
        for bars, trades in cases:
            started = time.process_time()
            computed = named_round_trip_features(bars, trades)
            features.append((time.process_time() - started) * 1000)
            started = time.process_time()
            reasons({"BTC-USD": computed}, {"BTC-USD": 0.97})
            sentences.append((time.process_time() - started) * 1000)
    print(f"round-trip evidence, {len(features)} symbols of 288 bars, 10-28 trades (CPU ms per symbol)")
    for name, values in (("features", features), ("reasons", sentences)):
        print(f"  {name:9s} p50 {statistics.median(values):6.3f}  p99 {percentile(values, 99):6.3f}")


if __name__ == "__main__":
    main()

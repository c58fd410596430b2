"""Import time of the scoring function's module in a fresh interpreter (a cold-start proxy).

    .venv39/bin/python -m bench.coldstart [--runs 7]

Each run starts a new interpreter that imports `scoring.handler` (Powertools, pydantic, boto3,
matplotlib, numpy) and renders one chart, which is what a cold Lambda does before its first
message. Run it with the 3.9 interpreter: that is the Lambda runtime.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

PROBE = """
import time
t0 = time.perf_counter()
import scoring.handler
t1 = time.perf_counter()
from bench.common import sample_day
from scoring.chart import render_chart
bars, trades = sample_day(0, 10)
t2 = time.perf_counter()
render_chart(bars["BTC-USD"], [t for t in trades if t.symbol == "BTC-USD"])
t3 = time.perf_counter()
print((t1 - t0) * 1000, (t3 - t2) * 1000)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    imports, first_render = [], []
    env = {
        "MPLCONFIGDIR": "/tmp/chartguard-bench-mpl",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PATH": "/usr/bin:/bin",
    }
    for _ in range(args.runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=env
        )
        a, b = (float(x) for x in out.stdout.split())
        imports.append(a)
        first_render.append(b)
    version = ".".join(map(str, sys.version_info[:3]))
    print(f"cold start proxy, Python {version}, {args.runs} fresh interpreters (ms)")
    print(f"  import scoring.handler   median {statistics.median(imports):7.1f}  min {min(imports):7.1f}")
    print(
        f"  first render (new figure) median {statistics.median(first_render):7.1f}  min {min(first_render):7.1f}"
    )


if __name__ == "__main__":
    main()

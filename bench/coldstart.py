"""Import time of the scoring function's module in a fresh interpreter (a cold-start proxy).

    .venv39/bin/python -m bench.coldstart [--runs 7]

Each run starts a new interpreter that imports `scoring.handler` (Powertools, pydantic, botocore,
numpy, Pillow), renders one chart and builds the function's clients, which is what a cold
Lambda does before and during its first message. Run it with the 3.9 interpreter: that is the
Lambda runtime. Two configurations, alternating run by run:
- tracing off (POWERTOOLS_TRACE_DISABLED, as in the local stack, the tests and `bench.handler`);
- as deployed: inside Lambda (LAMBDA_TASK_ROOT set) with active tracing, so Powertools' Tracer
  loads the X-Ray SDK.
"""

from __future__ import annotations

import argparse
import os
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
scoring.handler.collaborators()
t4 = time.perf_counter()
print((t1 - t0) * 1000, (t3 - t2) * 1000, (t4 - t3) * 1000)
"""
BASE_ENV = {
    "MPLCONFIGDIR": "/tmp/chartguard-bench-mpl",
    "PATH": "/usr/bin:/bin",
    # The function's configuration (contract 7): the clients are built, never called.
    "TRADES_TABLE": "bench-trades",
    "KLINES_TABLE": "bench-klines",
    "RISK_TABLE": "bench-risk",
    "EVIDENCE_BUCKET": "bench-evidence",
    "ENDPOINT_NAME": "bench-endpoint",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}
# PYTHONPATH, when set, reaches the probes: to compare another checkout's code with the same probe.
PASSED_ON = {name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ}
CONFIGURATIONS = {
    "tracing off": {"POWERTOOLS_TRACE_DISABLED": "true"},
    "as deployed (in Lambda, X-Ray tracing on)": {"LAMBDA_TASK_ROOT": "/var/task"},
}
FIGURES = ("import scoring.handler", "first render (new figure)", "first message's clients")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="per configuration")
    args = parser.parse_args()
    results: dict[str, list[list[float]]] = {name: [[], [], []] for name in CONFIGURATIONS}
    for _ in range(args.runs):
        for name, extra in CONFIGURATIONS.items():
            out = subprocess.run(
                [sys.executable, "-W", "ignore", "-c", PROBE],
                capture_output=True,
                text=True,
                check=True,
                env={**BASE_ENV, **PASSED_ON, **extra},
            )
            for figure, value in zip(results[name], out.stdout.split()):
                figure.append(float(value))
    version = ".".join(map(str, sys.version_info[:3]))
    print(f"cold start proxy, Python {version}, {args.runs} fresh interpreters per configuration (ms)")
    for name, figures in results.items():
        print(f"  {name}")
        for label, values in zip(FIGURES, figures):
            print(f"    {label:28s} median {statistics.median(values):7.1f}  min {min(values):7.1f}")


if __name__ == "__main__":
    main()

"""Scoring-handler time per message on a warm process, split by stage.

    python -m bench.handler [--messages 400] [--model-dir artifacts/model]

One account with 20 trades in 2 symbols (288 five-minute bars each) asks to withdraw again and
again, as live traffic does: each message's window ends when it is sent, and the klines run up
to the present. Every message goes through the real handler; its DynamoDB and S3 calls go over
HTTP to moto's server and its endpoint calls to the stand-in serving the trained model, each in
a process of its own (the local stack without its event source), so this process's CPU time is
the function's own work.

Four modes in one process, for like-for-like ratios, each for a quarter of the messages, in two
rounds of opposite order so that no mode always runs first:
- flagged: the threshold lowered to 1e-15 (the shipped model is that sure of this ordinary
  trader), so every message also takes the write path (evidence PNGs, then the conditional
  put): the worst case;
- clean: the default threshold (scoring.contracts.DEFAULT_RISK_THRESHOLD), which this ordinary trader stays under (checked for every
  message): nothing written, as for most withdrawals;
each with the klines cache off (KLINES_CACHE_SECONDS=0: every message reads its symbols' 288
bars) and on (the default: settled bars are read once).

Printed per message: wall time in total and per stage (moto's answers included: moto is far
slower than DynamoDB), wall time without the endpoint call ("overhead"), and the function's
CPU time (what the handler itself costs, whatever the services' speed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from bench.common import sample_day
from chartguard.percentiles import percentile
from local.event_source_mapping import lambda_record
from local.lambda_context import LocalLambdaContext
from local.resources import put_items
from local.stack import DEFAULT_MODEL_DIR, LocalStack
from scoring.contracts import DEFAULT_RISK_THRESHOLD
from scoring.market import format_utc

WARM_UP = 5
EXTRA_BARS = 24  # klines for the two hours after the start: the run's windows move with the clock


def run(handler: Any, arn: str, messages: int, label: str, outcome: str) -> dict[str, list[float]]:
    """`messages` warm withdrawals through the handler, each expected to end in `outcome`; wall,
    CPU and stage times in ms."""
    log = io.StringIO()
    handler.logger.registered_handler.stream = log
    wall, cpu = [], []
    for n in range(messages + WARM_UP):
        body = {
            "user_id": "u-bench",
            "withdrawal_id": f"w-{label}-{n}",
            "requested_at": format_utc(datetime.now(timezone.utc)),
        }
        message = {
            "MessageId": f"m-{label}-{n}",
            "ReceiptHandle": "r",
            "Body": json.dumps(body),
            "Attributes": {},
        }
        event = {"Records": [lambda_record(message, arn, "us-east-1")]}
        started, started_cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):  # Powertools flushes metrics every 100 values
            response = handler.lambda_handler(event, LocalLambdaContext())
        if n >= WARM_UP:  # the first calls build the clients and the figure, and fill the cache
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        assert response["batchItemFailures"] == [], response
    stages: dict[str, list[float]] = {}
    scored = [json.loads(x) for x in log.getvalue().splitlines()]
    entries = [e for e in scored if e.get("message") == "withdrawal scored"]
    assert len(entries) == messages + WARM_UP, f"{label}: {len(entries)} scored of {messages + WARM_UP}"
    outcomes = {e["outcome"] for e in entries}
    assert outcomes == {outcome}, f"{label}: expected every message {outcome!r}, got {sorted(outcomes)}"
    for entry in entries[WARM_UP:]:
        for stage, ms in entry["timings_ms"].items():
            stages.setdefault(stage, []).append(ms)
    overhead = [total - endpoint for total, endpoint in zip(wall, stages["endpoint"])]
    rows = {"total (wall)": wall, "overhead (wall, all but the endpoint)": overhead}
    rows.update({f"  stage {name}": values for name, values in sorted(stages.items())})
    rows["function CPU (this process)"] = cpu
    return rows


@contextlib.contextmanager
def loaded_stack(model_dir: Path) -> Iterator[LocalStack]:
    """The local stack without its event source, the function's environment pointed at it, and
    one sample day of klines and 20 trades loaded: what each handler benchmark scores against."""
    with LocalStack(model_dir=model_dir, run_function=False, log=lambda message: None) as stack:
        assert stack.resources is not None
        names = stack.resources.names
        os.environ.update(stack.env)
        os.environ.update({"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"})
        bars, trades = sample_day(seed=1, n_trades=20, end=datetime.now(timezone.utc), extra_bars=EXTRA_BARS)
        dynamodb = stack.client("dynamodb")
        put_items(dynamodb, names.klines_table, (b.to_item() for day in bars.values() for b in day))
        put_items(dynamodb, names.trades_table, (t.to_item() for t in trades))
        yield stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=400, help="in all, split over the four modes")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {}
    with loaded_stack(args.model_dir) as stack:
        assert stack.resources is not None
        names = stack.resources.names

        from scoring import handler, settings  # imported after the environment is set, as in Lambda

        arn = f"arn:aws:sqs:us-east-1:000000000000:{names.queue}"
        # label: (RISK_THRESHOLD, KLINES_CACHE_SECONDS, the outcome every message must have)
        threshold = str(DEFAULT_RISK_THRESHOLD)
        modes = {
            "flagged and written, klines cache on (default)": ("1e-15", "600", "flagged"),
            "flagged and written, klines cache off": ("1e-15", "0", "flagged"),
            "clean (nothing written), klines cache on (default)": (threshold, "600", "below-threshold"),
            "clean (nothing written), klines cache off": (threshold, "0", "below-threshold"),
        }
        for round_number, order in enumerate((list(modes), list(reversed(modes)))):
            for label in order:
                risk_threshold, cache_seconds, outcome = modes[label]
                os.environ.update({"RISK_THRESHOLD": risk_threshold, "KLINES_CACHE_SECONDS": cache_seconds})
                settings.get_settings.cache_clear()
                handler.collaborators.cache_clear()
                tag = f"{list(modes).index(label)}-{round_number}"
                rows = run(handler, arn, args.messages // (2 * len(modes)), tag, outcome)
                for name, values in rows.items():
                    results.setdefault(label, {}).setdefault(name, []).extend(values)
    for label, rows in results.items():
        count = len(rows["total (wall)"])
        print(f"handler, {count} warm messages, 20 trades in 2 symbols, {label} (ms)")
        for name, values in rows.items():
            print(f"  {name:40s} p50 {statistics.median(values):7.2f}  p99 {percentile(values, 99):7.2f}")


if __name__ == "__main__":
    main()

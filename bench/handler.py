"""Scoring-handler time per message on a warm process, split by stage.

    python -m bench.handler [--messages 200] [--model-dir artifacts/model]

One account with 20 trades in 2 symbols (288 five-minute bars each) is scored again and again
through the real handler: its DynamoDB and S3 calls go over HTTP to moto's server on
127.0.0.1, its endpoint calls to the stand-in serving the trained model. The threshold is
lowered to 0.0001 so that every message also takes the write path (evidence PNGs + conditional
put): the worst case. "overhead" is everything but the endpoint call.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import boto3

from bench.common import END, percentile, sample_day
from chartguard.event_source import LocalLambdaContext, lambda_record
from chartguard.local_resources import ResourceNames, create_resources, put_items
from scoring.market import format_utc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--model-dir", type=Path, default=Path("artifacts/model"))
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    standin = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chartguard.endpoint_standin",
            "--model-dir",
            str(args.model_dir),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert standin.stdout is not None
    line = standin.stdout.readline()
    if not line.startswith("listening on "):
        raise SystemExit(
            f"endpoint stand-in did not start (is there a model at {args.model_dir}? `make model`)"
        )
    names = ResourceNames()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": line.split()[2],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Chartguard",
            "RISK_THRESHOLD": "0.0001",
        }
    )
    clients = {name: boto3.client(name) for name in ("dynamodb", "sqs", "s3")}
    created = create_resources(**clients, names=names)
    os.environ.update(created.function_environment())
    bars, trades = sample_day(seed=1, n_trades=20)
    put_items(clients["dynamodb"], names.klines_table, (b.to_item() for day in bars.values() for b in day))
    put_items(clients["dynamodb"], names.trades_table, (t.to_item() for t in trades))

    from scoring import handler  # imported after the environment is set, as in Lambda

    log = io.StringIO()
    handler.logger.registered_handler.stream = log
    arn = "arn:aws:sqs:us-east-1:000000000000:" + names.queue
    totals = []
    for n in range(args.messages + 5):
        message = {
            "MessageId": f"m-{n}",
            "ReceiptHandle": "r",
            "Body": json.dumps(
                {"user_id": "u-bench", "withdrawal_id": f"w-{n}", "requested_at": format_utc(END)}
            ),
            "Attributes": {"SentTimestamp": str(int(time.time() * 1000))},
        }
        event = {"Records": [lambda_record(message, arn, "us-east-1")]}
        started = time.perf_counter()
        response = handler.lambda_handler(event, LocalLambdaContext())
        elapsed = (time.perf_counter() - started) * 1000
        assert response["batchItemFailures"] == [], response
        if n >= 5:  # the first calls warm the clients and the figure
            totals.append(elapsed)
    stages: dict[str, list[float]] = {}
    for entry in (json.loads(x) for x in log.getvalue().splitlines()[5:]):
        if entry.get("message") == "withdrawal scored":
            for stage, ms in entry["timings_ms"].items():
                stages.setdefault(stage, []).append(ms)
    overhead = [total - endpoint for total, endpoint in zip(totals, stages["endpoint"])]
    print(f"handler, {len(totals)} messages, 20 trades in 2 symbols, every message flagged and written (ms)")
    for name, values in [("total", totals), ("overhead", overhead), *sorted(stages.items())]:
        print(f"  {name:9s} p50 {statistics.median(values):7.2f}  p99 {percentile(values, 99):7.2f}")
    standin.terminate()
    server.stop()


if __name__ == "__main__":
    main()

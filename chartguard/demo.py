"""`chartguard demo` (`make demo`): the whole job on this machine, with no AWS account.

It starts the local stack (moto over HTTP, the endpoint stand-in serving the trained model, the
event source calling the real handler), loads simulated klines and a few hundred accounts,
sends one withdrawal per account through the business-system client, waits until every message
is handled, and prints what an analyst sees first: the flags, precision and recall against the
simulator's truth, throughput and latency, and where the HTML report is.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chartguard.business import send_withdrawal, withdrawal_message
from chartguard.percentiles import percentile
from local.resources import put_items
from local.stack import DEFAULT_MODEL_DIR, LocalStack, RunnerStats
from scoring.market import format_utc

SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD")


def _say(message: str) -> None:
    print(message, flush=True)


def run_demo(
    *,
    hackers: int,
    normals: int,
    seed: int,
    model_dir: Path,
    report: Path,
    top: int = 15,
) -> dict[str, Any]:
    from chartguard import daily_report, table_reads
    from training.market_data import synthetic_klines
    from training.simulate import simulate_accounts

    started = time.perf_counter()
    window_end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    day = format_utc(window_end)[:10]
    with LocalStack(model_dir=model_dir, log=_say) as stack:
        assert stack.resources is not None
        names = stack.resources.names
        dynamodb, sqs, s3 = stack.client("dynamodb"), stack.client("sqs"), stack.client("s3")

        _say(f"demo: simulating {hackers} thieves and {normals} customers trading {', '.join(SYMBOLS)}")
        market = synthetic_klines(SYMBOLS, window_end, 2, seed)
        accounts = simulate_accounts(market, hackers, normals, seed, window_end)
        bars = put_items(
            dynamodb, names.klines_table, (b.to_item() for series in market.values() for b in series)
        )
        trades = put_items(dynamodb, names.trades_table, (t.to_item() for a in accounts for t in a.trades))
        _say(f"demo: loaded {bars} klines and {trades} trades")

        _say(f"demo: sending {len(accounts)} withdrawal messages (business-system client)")
        sent_at = time.perf_counter()
        for n, account in enumerate(accounts):
            body = withdrawal_message(account.user_id, f"w-demo-{n:05d}", format_utc(window_end))
            send_withdrawal(sqs, stack.resources.queue_url, body)

        def progress(stats: RunnerStats, waiting: int) -> None:
            _say(f"demo: scored {stats.succeeded}/{len(accounts)}, {waiting} waiting in the queue")

        if not stack.wait_until_drained(len(accounts), timeout=900, progress=progress):
            raise RuntimeError("demo: the queue did not drain in 15 minutes")
        drained_at = time.perf_counter()

        flags = table_reads.flags_of_day(dynamodb, names.risk_table, day)
        _say(f"demo: writing the HTML report to {report}")
        daily_report.write_report(
            dynamodb,
            s3,
            risk_table=names.risk_table,
            trades_table=names.trades_table,
            klines_table=names.klines_table,
            day=day,
            out=report,
            limit=top,
        )
        stats = stack.stats
        workers = stack.concurrency
        dead_letters = int(
            sqs.get_queue_attributes(
                QueueUrl=stack.resources.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
        )

    truth = {a.user_id: a for a in accounts}
    flagged = {f["user_id"] for f in flags}
    thieves = {a.user_id for a in accounts if a.label == "hacker"}
    true_positives = flagged & thieves
    latencies = list(stats.done.values())
    summary = {
        "accounts": len(accounts),
        "flagged": len(flagged),
        "precision": len(true_positives) / len(flagged) if flagged else 1.0,
        "recall": len(true_positives) / len(thieves) if thieves else 1.0,
        "false_positives": sorted(truth[u].variant for u in flagged - thieves),
        "missed": sorted(truth[u].variant for u in thieves - flagged),
        "throughput_per_s": len(accounts) / (drained_at - sent_at),
        "latency_p50_ms": statistics.median(latencies) if latencies else 0.0,
        "latency_p99_ms": percentile(latencies, 99),
        "dead_letters": dead_letters,
        "workers": workers,
        "seconds": time.perf_counter() - started,
    }
    _print_summary(flags, truth, summary, report, top)
    return summary


def _print_summary(
    flags: list[dict[str, Any]], truth: dict[str, Any], summary: dict[str, Any], report: Path, top: int
) -> None:
    print()
    print(
        f"Flagged withdrawals (score > threshold), highest first: {summary['flagged']} of {summary['accounts']} accounts"
    )
    print(f"  {'score':>7}  {'user':<16} {'truth':<22} {'trades':>6}  symbols")
    for record in flags[:top]:
        account = truth.get(record["user_id"])
        label = f"{account.label}/{account.variant}" if account else "?"
        symbols = ", ".join(
            f"{s} {float(p):.3f}"
            for s, p in sorted(record["symbol_scores"].items(), key=lambda kv: -float(kv[1]))
        )
        print(
            f"  {float(record['score']):7.4f}  {record['user_id']:<16} {label:<22} {int(record['trade_count']):>6}  {symbols}"
        )
    if len(flags) > top:
        print(f"  ... and {len(flags) - top} more (chartguard flags --day {flags[0]['day']})")
    print()
    print(
        f"Against the simulator's truth: precision {summary['precision']:.3f}, recall {summary['recall']:.3f}"
    )
    if summary["missed"]:
        print(f"  missed thieves by variant: {', '.join(summary['missed'])}")
    if summary["false_positives"]:
        print(f"  customers flagged by variant: {', '.join(summary['false_positives'])}")
    print(
        f"Throughput {summary['throughput_per_s']:.1f} withdrawals/s through {summary['workers']} local event-source workers; "
        f"latency from send to done p50 {summary['latency_p50_ms']:.0f} ms, p99 {summary['latency_p99_ms']:.0f} ms"
    )
    print(f"Dead-lettered messages: {summary['dead_letters']}")
    print(f"HTML report (the image the model saw beside a chart for people): {report}")
    print(f"Demo took {summary['seconds']:.0f} s.")


def _run(args: argparse.Namespace) -> int:
    summary = run_demo(
        hackers=args.hackers,
        normals=args.normals,
        seed=args.seed,
        model_dir=args.model_dir,
        report=args.report,
    )
    return 0 if summary["accounts"] and summary["dead_letters"] == 0 else 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole job on this machine: local stack, simulated accounts, scoring, report",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("--hackers", type=int, default=40, help="simulated thieves")
    parser.add_argument("--normals", type=int, default=160, help="simulated customers")
    parser.add_argument(
        "--seed", type=int, default=2026, help="market and accounts seed (not a training seed)"
    )
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--report", type=Path, default=Path(".local/report.html"))
    parser.set_defaults(run=_run)

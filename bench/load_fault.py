"""Load and fault drill through the local stack: every message must be accounted for.

    python -m bench.load_fault [--messages 5000] [--accounts 250]

Simulated accounts (thieves and customers) ask to withdraw again and again; 2% of the messages
are malformed, 1% are sent twice (at fixed positions, so even a small run has both). The
endpoint stand-in fails 10% of its calls for a stretch (the first 40% of the run), then holds
10% of its calls past the function's read timeout for another (the next 15%). Afterwards each
message sent is accounted for: flagged (a risk record), scored clean (below the threshold or no
activity), or in the dead-letter queue with its reason (the message attributes of one the
function dead-lettered itself, else the reason it logged); none is lost, no withdrawal has two
records or two sets of evidence, and no invocation outlived the function's timeout (a batch lost).
Throughput and latency are printed. tests/integration/test_load_fault.py runs it at a small size.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from chartguard.business import send_withdrawal, withdrawal_message
from chartguard.percentiles import percentile
from local.endpoint_standin import FaultPlan
from local.resources import put_items
from local.stack import DEFAULT_MODEL_DIR, LocalStack
from scoring.clients import client_config
from scoring.market import format_utc

SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD")
MALFORMED = (
    "not json",
    '{"withdrawal_id": "w-no-user"}',
    '{"user_id": "u", "withdrawal_id": "w", "requested_at": "soon"}',
    '{"user_id": "u", "withdrawal_id": "w", "requestedAt": "2026-11-22T04:00:00Z"}',  # misspelt
    '{"user_id": "u/../x", "withdrawal_id": "w"}',  # unfit for a key
    '{"user_id": "u", "withdrawal_id": "w", "requested_at": "1970-01-01T00:00:00Z"}',  # far past
)


@dataclass
class DrillReport:
    sent: int = 0
    malformed_sent: int = 0
    duplicates_sent: int = 0
    done: int = 0
    dead_lettered: int = 0
    dead_lettered_at_once: int = 0
    dead_letter_reasons: Counter = field(default_factory=Counter)
    unaccounted: list[str] = field(default_factory=list)
    good_in_dlq: list[str] = field(default_factory=list)
    malformed_not_in_dlq: list[str] = field(default_factory=list)
    flagged_withdrawals: int = 0
    flagged_messages: int = 0
    scored_clean_messages: int = 0
    below_threshold_or_idle: int = 0
    duplicate_records: int = 0
    extra_evidence: int = 0
    injected_faults: int = 0
    injected_delays: int = 0
    delay_seconds: float = 0.0
    failed_receipts: int = 0
    failure_reasons: Counter = field(default_factory=Counter)
    timed_out_invocations: int = 0
    invocation_errors: int = 0
    seconds: float = 0.0
    throughput_per_s: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    precision: float = 0.0
    recall: float = 0.0

    @property
    def all_accounted(self) -> bool:
        return (
            not self.unaccounted
            and not self.good_in_dlq
            and not self.malformed_not_in_dlq
            and self.duplicate_records == 0
            and self.extra_evidence == 0
            and self.timed_out_invocations == 0
            and self.invocation_errors == 0
        )


def _drain_queue(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages, empty = [], 0
    while empty < 2:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=600,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        messages.extend(batch)
        empty = empty + 1 if not batch else 0
    return messages


def run_drill(
    *,
    messages: int,
    accounts: int,
    seed: int = 11,
    model_dir: Path = DEFAULT_MODEL_DIR,
    fault_rate: float = 0.10,
    fault_share: float = 0.40,
    delay_rate: float = 0.10,
    delay_share: float = 0.15,
    log: Any = print,
) -> DrillReport:
    from training.market_data import synthetic_klines
    from training.simulate import simulate_accounts

    rng = random.Random(seed)
    report = DrillReport()
    window_end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    with LocalStack(model_dir=model_dir, log=log) as stack:
        assert stack.resources is not None
        names = stack.resources.names
        dynamodb, sqs, s3 = stack.client("dynamodb"), stack.client("sqs"), stack.client("s3")
        market = synthetic_klines(SYMBOLS, window_end, 2, seed)
        population = simulate_accounts(market, accounts // 5, accounts - accounts // 5, seed, window_end)
        put_items(dynamodb, names.klines_table, (b.to_item() for series in market.values() for b in series))
        put_items(dynamodb, names.trades_table, (t.to_item() for a in population for t in a.trades))
        log(f"drill: {len(population)} accounts loaded; sending {messages} messages")

        stack.set_faults(FaultPlan(rate=fault_rate, code="ServiceUnavailable", seed=seed))
        good: dict[str, str] = {}  # message id -> withdrawal id
        malformed: set[str] = set()
        started = time.perf_counter()
        stop_faults_after = int(messages * fault_share)
        stop_delays_after = int(messages * (fault_share + delay_share))
        # Past the client's read timeout, so each held call times out and is tried again.
        report.delay_seconds = float(client_config("sagemaker-runtime").read_timeout) + 2.0

        def end_stretch() -> None:
            while stack.stats.succeeded < stop_faults_after and not stopped.is_set():
                time.sleep(0.2)
            slow = FaultPlan(rate=0.0, delay_rate=delay_rate, delay_seconds=report.delay_seconds, seed=seed)
            report.injected_faults = stack.set_faults(slow)["failed_injected"]
            log(f"drill: fault stretch over after {stack.stats.succeeded} messages; slow stretch begins")
            # Messages finish a batch at a time: the stretch also lasts until a call was held.
            while not stopped.is_set() and (
                stack.stats.succeeded < stop_delays_after or not stack.endpoint_stats()["delayed_injected"]
            ):
                time.sleep(0.2)
            report.injected_delays = stack.set_faults(FaultPlan(rate=0.0))["delayed_injected"]
            log(f"drill: slow stretch over after {stack.stats.succeeded} messages")

        stopped = threading.Event()
        stretch = threading.Thread(target=end_stretch, daemon=True)
        stretch.start()
        n = 0
        while report.sent < messages:
            # Deterministic shares, so even a small run has both kinds: 2% malformed, 1% sent twice.
            if report.sent % 50 == 1:
                body_text = MALFORMED[(report.sent // 50) % len(MALFORMED)]
                malformed.add(
                    sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=body_text)["MessageId"]
                )
                report.malformed_sent += 1
                report.sent += 1
                continue
            account = population[rng.randrange(len(population))]
            body = withdrawal_message(account.user_id, f"w-drill-{n:06d}", format_utc(window_end))
            n += 1
            copies = 2 if report.sent % 100 == 7 and report.sent + 1 < messages else 1
            for _ in range(copies):
                good[send_withdrawal(sqs, stack.resources.queue_url, body)] = body["withdrawal_id"]
                report.sent += 1
            report.duplicates_sent += copies - 1

        def progress(stats: Any, waiting: int) -> None:
            log(f"drill: done {stats.succeeded}, failed receipts {stats.failed}, waiting {waiting}")

        drained = stack.wait_until_drained(len(good), timeout=3 * 3600, progress=progress, progress_every=10)
        report.seconds = time.perf_counter() - started
        stopped.set()
        stretch.join(timeout=5)
        if not drained:
            log("drill: the queue did not drain in time")

        dead = _drain_queue(sqs, stack.resources.dlq_url)
        logged: dict[str, str] = {}  # message id -> the reason of its last failure
        for line in stack.function_log:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("message") == "withdrawal not scored" and entry.get("message_id"):
                logged[entry["message_id"]] = str(entry["reason"])
                report.failure_reasons[str(entry["reason"])] += 1
        # A dead letter the function sent itself names its source message and reason; one the
        # queue's redrive moved keeps its message id, and its reason is the last one logged.
        dead_reasons: dict[str, str] = {}
        for message in dead:
            attributes = {
                k: v.get("StringValue", "") for k, v in message.get("MessageAttributes", {}).items()
            }
            if "source_message_id" in attributes:
                dead_reasons[attributes["source_message_id"]] = attributes.get("reason", "no reason")
                report.dead_lettered_at_once += 1
            else:
                dead_reasons[message["MessageId"]] = logged.get(message["MessageId"], "no reason logged")
        dead_ids = set(dead_reasons)
        done_ids = set(stack.stats.done)
        report.done = len(done_ids)
        report.dead_lettered = len(dead)
        report.dead_letter_reasons = Counter(dead_reasons.values())
        report.unaccounted = sorted((set(good) | malformed) - done_ids - dead_ids)
        report.good_in_dlq = sorted(set(good) & dead_ids)
        report.malformed_not_in_dlq = sorted(malformed - dead_ids)  # "done" without a verdict: lost
        report.failed_receipts = stack.stats.failed
        report.timed_out_invocations = stack.stats.timeouts
        report.invocation_errors = stack.stats.invocation_errors

        records = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=names.risk_table):
            records.extend(page["Items"])
        per_withdrawal = Counter(item["withdrawal_id"]["S"] for item in records)
        report.duplicate_records = sum(count - 1 for count in per_withdrawal.values())
        report.flagged_withdrawals = len(per_withdrawal)
        evidence = Counter()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=names.evidence_bucket):
            for obj in page.get("Contents", []):
                evidence[obj["Key"].split("/")[3]] += 1
        symbols_of = {item["withdrawal_id"]["S"]: len(item["symbol_scores"]["M"]) for item in records}
        report.extra_evidence = sum(max(0, evidence[w] - symbols_of.get(w, 0)) for w in evidence)
        report.below_threshold_or_idle = len({good[i] for i in done_ids if i in good} - set(per_withdrawal))
        scored = [i for i in done_ids if i in good and i not in dead_ids]
        report.flagged_messages = sum(1 for i in scored if good[i] in per_withdrawal)
        report.scored_clean_messages = len(scored) - report.flagged_messages

        labels = {a.user_id: a.label for a in population}
        flagged_users = {item["user_id"]["S"] for item in records}
        thieves = {u for u, label in labels.items() if label == "hacker"}
        report.precision = len(flagged_users & thieves) / len(flagged_users) if flagged_users else 1.0
        report.recall = len(flagged_users & thieves) / len(thieves) if thieves else 1.0
        latencies = list(stack.stats.done.values())
        report.throughput_per_s = len(done_ids) / report.seconds if report.seconds else 0.0
        report.latency_p50_ms = statistics.median(latencies) if latencies else 0.0
        report.latency_p99_ms = percentile(latencies, 99)
    return report


def print_report(report: DrillReport) -> None:
    print(
        f"load and fault drill: {report.sent} messages ({report.malformed_sent} malformed, {report.duplicates_sent} duplicated)"
    )
    print(
        f"  endpoint faults injected: {report.injected_faults} 503s, {report.injected_delays} calls held {report.delay_seconds:.0f} s "
        f"(past the read timeout); failed receipts {report.failed_receipts}, by reason {dict(report.failure_reasons)}"
    )
    print(
        f"  accounted: flagged {report.flagged_messages} messages ({report.flagged_withdrawals} withdrawals) + scored clean "
        f"{report.scored_clean_messages} + dead-lettered {report.dead_lettered} = {report.flagged_messages + report.scored_clean_messages + report.dead_lettered}"
    )
    print(
        f"  dead-lettered: {report.dead_lettered} ({report.dead_lettered_at_once} at once by the function), "
        f"by reason: {dict(report.dead_letter_reasons)}"
    )
    print(f"  unaccounted: {len(report.unaccounted)}; well-formed in the DLQ: {len(report.good_in_dlq)}; "
          f"malformed but not in the DLQ: {len(report.malformed_not_in_dlq)}; "
          f"duplicate records: {report.duplicate_records}; extra evidence objects: {report.extra_evidence}")  # fmt: skip
    print(f"  invocations past the function's timeout (a batch lost): {report.timed_out_invocations}; "
          f"invocation errors: {report.invocation_errors}")  # fmt: skip
    print(f"  accounts flagged vs truth: precision {report.precision:.3f}, recall {report.recall:.3f}")
    print(f"  throughput {report.throughput_per_s:.1f} messages/s over {report.seconds:.0f} s; "
          f"latency send->done p50 {report.latency_p50_ms:.0f} ms, p99 {report.latency_p99_ms:.0f} ms")  # fmt: skip
    print(f"  every message accounted for: {'yes' if report.all_accounted else 'NO'}")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--accounts", type=int, default=250)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args(argv)
    report = run_drill(
        messages=args.messages, accounts=args.accounts, seed=args.seed, model_dir=args.model_dir
    )
    print_report(report)
    return 0 if report.all_accounted else 1


if __name__ == "__main__":
    raise SystemExit(main())

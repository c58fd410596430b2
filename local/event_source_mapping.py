"""A local stand-in for Lambda's SQS event source mapping.

It does what the mapping does for the scoring function in AWS: long-polls the queue, gathers a
batch (up to `batch_size` messages or `batching_window` seconds), calls the real handler with a
Lambda-shaped SQS event, deletes the records that succeeded and leaves the reported failures on
the queue, where the visibility timeout makes them reappear and the queue's redrive policy takes
them to the dead-letter queue after maxReceiveCount receipts. A handler that raises leaves the
whole batch, as Lambda does, and so does one that returns after the context's timeout: Lambda
would have ended it there and lost its response (`timed_out`).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

from local.lambda_context import LocalLambdaContext
from local.stop_signal import stop_event_on_signals

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class BatchOutcome:
    received: int
    succeeded: int
    failed: int
    invocation_error: Optional[str] = None
    timed_out: bool = False
    seconds: float = 0.0
    # Per message that succeeded: its id and the time from SQS's SentTimestamp to its deletion.
    done: list[tuple[str, float]] = field(default_factory=list)
    failed_ids: list[str] = field(default_factory=list)


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message as Lambda hands it to the function."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
            "SenderId": attributes.get("SenderId", "local"),
            "ApproximateFirstReceiveTimestamp": attributes.get(
                "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
            ),
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class EventSourceMappingRunner:
    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        handler: Handler,
        batch_size: int = 10,
        batching_window: float = 1.0,
        wait_time: int = 1,
        retry_delay: Optional[int] = None,
        context_factory: Callable[[], Any] = LocalLambdaContext,
    ):
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._batch_size = batch_size
        self._window = batching_window
        self._wait = wait_time
        # None: a failed message waits out the queue's visibility timeout, as under Lambda.
        # Locally: it is made visible again after this many seconds, so retries take seconds.
        self._retry_delay = retry_delay
        self._context_factory = context_factory
        self._queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self._region = sqs.meta.region_name

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self._window
        while len(messages) < self._batch_size:
            remaining = deadline - time.monotonic()
            response = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(10, self._batch_size - len(messages)),
                WaitTimeSeconds=self._wait if not messages else 0,
                AttributeNames=["All"],
            )
            batch = response.get("Messages", [])
            messages.extend(batch)
            if not batch and (messages or remaining <= 0):
                break
            if remaining <= 0:
                break
        return messages

    def poll_once(self) -> BatchOutcome:
        """Receive one batch, invoke the handler, delete what succeeded."""
        started = time.perf_counter()
        messages = self._receive()
        if not messages:
            return BatchOutcome(0, 0, 0)
        event = {"Records": [lambda_record(m, self._queue_arn, self._region) for m in messages]}
        context = self._context_factory()
        invoked = time.monotonic()
        try:
            response = self._handler(event, context)
        except Exception as error:  # Lambda: the invocation failed, every record comes back
            self._retry_later(messages)
            ids = [m["MessageId"] for m in messages]
            return BatchOutcome(
                len(messages), 0, len(messages), f"{type(error).__name__}: {error}", failed_ids=ids
            )
        took = time.monotonic() - invoked
        timeout = getattr(context, "timeout_seconds", None)
        if timeout is not None and took > timeout:  # Lambda ended it at the timeout: the response is lost
            self._retry_later(messages)
            return BatchOutcome(
                len(messages),
                0,
                len(messages),
                f"Task timed out after {timeout} seconds (the handler took {took:.1f} s)",
                timed_out=True,
                seconds=time.perf_counter() - started,
                failed_ids=[m["MessageId"] for m in messages],
            )
        failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        self._retry_later([m for m in messages if m["MessageId"] in failed])
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        now_ms = time.time() * 1000
        return BatchOutcome(
            len(messages),
            len(done),
            len(messages) - len(done),
            seconds=time.perf_counter() - started,
            done=[
                (m["MessageId"], now_ms - float(m.get("Attributes", {}).get("SentTimestamp", now_ms)))
                for m in done
            ],
            failed_ids=sorted(failed),
        )

    def _retry_later(self, messages: list[dict[str, Any]]) -> None:
        if self._retry_delay is None or not messages:
            return
        for start in range(0, len(messages), 10):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {
                        "Id": str(i),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": self._retry_delay,
                    }
                    for i, m in enumerate(messages[start : start + 10])
                ],
            )

    def run(self, stop: threading.Event, on_batch: Optional[Callable[[BatchOutcome], None]] = None) -> None:
        """Poll until `stop` is set; `on_batch` sees every batch that received something."""
        while not stop.is_set():
            outcome = self.poll_once()
            if on_batch is not None and outcome.received:
                on_batch(outcome)


OUTCOME_PREFIX = "OUTCOME "


def outcome_line(outcome: BatchOutcome) -> str:
    """One batch's outcome as a line a supervising process can tell from the function's logs."""
    return OUTCOME_PREFIX + json.dumps(asdict(outcome), separators=(",", ":"))


def parse_outcome_line(line: str) -> Optional[BatchOutcome]:
    if not line.startswith(OUTCOME_PREFIX):
        return None
    fields = json.loads(line[len(OUTCOME_PREFIX) :])
    fields["done"] = [tuple(pair) for pair in fields["done"]]
    return BatchOutcome(**fields)


def main(argv: Optional[list[str]] = None) -> int:
    """One execution environment: poll the queue and invoke the scoring handler until SIGTERM.

    The function's configuration comes from the environment, as in Lambda; each batch's outcome
    is printed as an `OUTCOME {json}` line beside the function's own log lines.
    """
    parser = argparse.ArgumentParser(prog="python -m local.event_source_mapping", description=main.__doc__)
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--batching-window", type=float, default=1.0)
    parser.add_argument(
        "--retry-delay", type=int, default=None, help="seconds before a failed message reappears"
    )
    args = parser.parse_args(argv)
    stop = stop_event_on_signals()

    import boto3

    from scoring.handler import lambda_handler

    source = EventSourceMappingRunner(
        sqs=boto3.client("sqs"),
        queue_url=args.queue_url,
        handler=lambda_handler,
        batch_size=args.batch_size,
        batching_window=args.batching_window,
        retry_delay=args.retry_delay,
    )
    print("ready", flush=True)
    source.run(stop, lambda outcome: print(outcome_line(outcome), flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

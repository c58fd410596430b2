"""The business system's side: send a withdrawal message (contract 1) to the scoring queue."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any, Optional

from pydantic import ValidationError

from chartguard.stack_access import StackConfig, UserError, client
from scoring.market import format_utc
from scoring.messages import WithdrawalMessage
from scoring.validation import validation_summary


def withdrawal_message(
    user_id: str,
    withdrawal_id: Optional[str] = None,
    requested_at: Optional[str] = None,
    amount: Optional[str] = None,
    asset: Optional[str] = None,
) -> dict[str, Any]:
    """A contract-1 body, validated as the function will validate it (so a bad one never leaves)."""
    body: dict[str, Any] = {"user_id": user_id, "withdrawal_id": withdrawal_id or f"w-{uuid.uuid4()}"}
    optional = {"requested_at": requested_at, "amount": amount, "asset": asset}
    body.update({k: v for k, v in optional.items() if v is not None})
    try:
        parsed = WithdrawalMessage.model_validate(body)
    except ValidationError as error:
        raise UserError(f"not a valid withdrawal message: {validation_summary(error)}") from None
    if parsed.requested_at is not None:
        body["requested_at"] = format_utc(parsed.requested_at)
    return body


def send_withdrawal(sqs: Any, queue_url: str, body: dict[str, Any]) -> str:
    """Send one message; returns SQS's MessageId."""
    return str(
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body, separators=(",", ":")))["MessageId"]
    )


def _run_send(args: argparse.Namespace) -> int:
    body = withdrawal_message(args.user_id, args.withdrawal_id, args.requested_at, args.amount, args.asset)
    if args.dry_run:
        print(json.dumps(body))
        return 0
    queue_url = args.queue_url or StackConfig.from_environ().require("queue_url")
    message_id = send_withdrawal(client("sqs"), queue_url, body)
    print(json.dumps({"message_id": message_id, **body}))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "send",
        help="business system: send a withdrawal message to be scored",
        description="Send one withdrawal message (contract 1) to the scoring queue. The message is "
        "validated first, so a malformed one never leaves. The window of trades scored ends at "
        "--requested-at (default: the time SQS receives the message).",
        epilog="example: chartguard send --user-id u-123 --withdrawal-id w-789 --amount 2.5 --asset BTC",
    )
    parser.add_argument("--user-id", required=True, help="the account that asks to withdraw")
    parser.add_argument(
        "--withdrawal-id", help="unique per withdrawal, the idempotency key (default: a new UUID)"
    )
    parser.add_argument(
        "--requested-at", help="ISO-8601 UTC, e.g. 2026-11-22T04:07:21Z (default: SentTimestamp)"
    )
    parser.add_argument("--amount", help="decimal string, for ranking and reports")
    parser.add_argument("--asset", help="e.g. BTC, USD")
    parser.add_argument("--queue-url", help="default: $QUEUE_URL")
    parser.add_argument("--dry-run", action="store_true", help="print the message instead of sending it")
    parser.set_defaults(run=_run_send)

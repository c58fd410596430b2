"""SQS -> scoring Lambda: Powertools wiring and message parsing only (the decision is scoring.decision).

Entry point: `scoring.handler.lambda_handler`. Each record is one withdrawal (contract 1); a
record that fails is reported as a batch item failure and never fails the rest of its batch.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from scoring.clients import client, client_config
from scoring.dead_letters import DeadLetterQueue
from scoring.decision import (
    ALREADY_FLAGGED,
    FLAGGED,
    NO_ACTIVITY,
    FlagRecorder,
    KlineSource,
    Predictor,
    TradeSource,
    Withdrawal,
    score_withdrawal,
)
from scoring.endpoint import SageMakerPredictor
from scoring.errors import RejectedMessage, ScoringError
from scoring.klines import CachedKlines, KlinesTable
from scoring.messages import WithdrawalRecord
from scoring.risk import RiskRecorder
from scoring.settings import get_settings
from scoring.time_budget import TimeBudget, worst_case_seconds
from scoring.tracing import scoring_tracer
from scoring.trades import TradesTable
from scoring.validation import validation_summary

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "chartguard-scoring"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Chartguard"))
tracer = scoring_tracer(os.environ.get("POWERTOOLS_SERVICE_NAME", "chartguard-scoring"))


@dataclass(frozen=True)
class Collaborators:
    """What the decision is given besides the withdrawal: its adapters and the settings it applies."""

    trades: TradeSource
    klines: KlineSource
    predictor: Predictor
    recorder: FlagRecorder
    threshold: float
    window_hours: int


@functools.lru_cache(maxsize=1)
def collaborators() -> Collaborators:
    """The adapters the decision needs, built once per process from the validated settings."""
    settings = get_settings()
    dynamodb = client("dynamodb")
    table = KlinesTable(dynamodb, settings.klines_table)
    cache_seconds = settings.klines_cache_seconds
    return Collaborators(
        trades=TradesTable(dynamodb, settings.trades_table),
        klines=CachedKlines(table, max_age_seconds=cache_seconds) if cache_seconds else table,
        predictor=SageMakerPredictor(
            client("sagemaker-runtime"), settings.endpoint_name, settings.endpoint_fuses
        ),
        recorder=RiskRecorder(
            dynamodb=dynamodb,
            s3=client("s3"),
            table_name=settings.risk_table,
            bucket=settings.evidence_bucket,
            retention_days=settings.record_retention_days,
        ),
        threshold=settings.risk_threshold,
        window_hours=settings.window_hours,
    )


@functools.lru_cache(maxsize=1)
def dead_letter_queue() -> Optional[DeadLetterQueue]:
    """Where a message retrying cannot help goes at once (None: it takes the queue's redrive)."""
    url = get_settings().dead_letter_queue_url
    return DeadLetterQueue(client("sqs"), url) if url else None


@functools.lru_cache(maxsize=1)
def step_seconds() -> dict[str, float]:
    """Each step's worst case, from the clients' timeouts and attempts (scoring.time_budget)."""
    dynamodb, s3, endpoint = (
        worst_case_seconds(client_config(service)) for service in ("dynamodb", "s3", "sagemaker-runtime")
    )
    return {
        "start": dynamodb,  # the trades query
        "query": dynamodb,  # the klines queries, side by side
        "endpoint": endpoint,
        "write": dynamodb + s3 + dynamodb,  # look for the record, put the images, put the record
    }


class ScoringBatchProcessor(BatchProcessor):
    """Powertools' SQS batch processor that also says, for every failed record, why, and sends a
    message retrying cannot help to the dead-letter queue at once (then reports it done)."""

    def failure_handler(self, record: Any, exception: Any) -> Any:
        error = exception[1]
        message_id = getattr(record, "message_id", None) or getattr(record, "messageId", None)
        if isinstance(error, ValidationError):
            reason, detail = RejectedMessage.reason, validation_summary(error)
        elif isinstance(error, ScoringError):
            reason, detail = error.reason, str(error)
        else:
            reason, detail = "unexpected", f"{type(error).__name__}: {error}"
        at_once = isinstance(error, ValidationError) or getattr(error, "dead_letter_at_once", False)
        dead_letter_id = self._dead_letter(str(message_id), reason, detail) if at_once else None
        if dead_letter_id is not None:
            logger.warning(
                "withdrawal dead-lettered",
                extra={
                    "outcome": "dead-lettered",
                    "reason": reason,
                    "detail": detail,
                    "message_id": message_id,
                    "dead_letter_id": dead_letter_id,
                },
            )
            metrics.add_metric(
                name="MessagesRejected" if reason == "rejected" else "MessagesHeld",
                unit=MetricUnit.Count,
                value=1,
            )
            return self.success_handler(record, f"dead-lettered: {reason}")
        log = logger.warning if isinstance(error, (ValidationError, ScoringError)) else logger.error
        log(
            "withdrawal not scored",
            extra={"outcome": "failed", "reason": reason, "detail": detail, "message_id": message_id},
            exc_info=reason == "unexpected",
        )
        metrics.add_metric(
            name="MessagesRejected" if reason == "rejected" else "MessagesFailed",
            unit=MetricUnit.Count,
            value=1,
        )
        return super().failure_handler(record, exception)

    def _dead_letter(self, message_id: str, reason: str, detail: str) -> Optional[str]:
        """Send the record's body, as it came, to the dead-letter queue; None if that cannot be done."""
        queue = dead_letter_queue()
        raw = next((r for r in self.records if r.get("messageId") == message_id), None)
        if queue is None or raw is None:
            return None
        try:
            return queue.send(
                str(raw.get("body", "")),
                reason=reason,
                detail=detail,
                message_id=message_id,
                receive_count=str(raw.get("attributes", {}).get("ApproximateReceiveCount", "1")),
            )
        except ScoringError as error:  # the slow road still ends in the dead-letter queue
            logger.warning("dead-letter send failed", extra={"message_id": message_id, "detail": str(error)})
            return None


# WithdrawalRecord has the SqsRecordModel fields Powertools reads (messageId) without its import cost.
# A batch whose every record failed is answered like any other, with each failure listed: raising
# instead would count as an invocation error (the FunctionErrors alarm) for what is a record-level
# outcome, and return the same messages.
processor = ScoringBatchProcessor(
    event_type=EventType.SQS,
    model=WithdrawalRecord,  # type: ignore[arg-type]
    raise_on_entire_batch_failure=False,
)


def withdrawal_from(record: WithdrawalRecord) -> Withdrawal:
    message = record.body
    sent: datetime = record.attributes.SentTimestamp  # contract 1: the default end of the window
    return Withdrawal(
        user_id=message.user_id,
        withdrawal_id=message.withdrawal_id,
        requested_at=message.requested_at or sent,
        amount=message.amount,
        asset=message.asset,
        message_id=record.messageId,
    )


def budget_of(lambda_context: Any) -> Optional[TimeBudget]:
    """The invocation's time budget, from the time left that Lambda's context reports."""
    remaining = getattr(lambda_context, "get_remaining_time_in_millis", None)
    return TimeBudget(remaining, step_seconds()) if callable(remaining) else None


@tracer.capture_method
def record_handler(record: WithdrawalRecord, lambda_context: Optional[LambdaContext] = None) -> str:
    withdrawal = withdrawal_from(record)
    budget = budget_of(lambda_context)
    if budget is not None:  # a record not started in time fails alone and comes back
        budget.require("start")
    with logger.append_context_keys(user_id=withdrawal.user_id, withdrawal_id=withdrawal.withdrawal_id):
        logger.set_correlation_id(withdrawal.withdrawal_id)
        try:
            use = collaborators()
            verdict = score_withdrawal(
                withdrawal,
                trades=use.trades,
                klines=use.klines,
                predictor=use.predictor,
                recorder=use.recorder,
                threshold=use.threshold,
                window_hours=use.window_hours,
                budget=budget,
            )
            metrics.add_metric(name="MessagesScored", unit=MetricUnit.Count, value=1)
            if verdict.invalid_trades:
                metrics.add_metric(
                    name="InvalidTrades", unit=MetricUnit.Count, value=len(verdict.invalid_trades)
                )
            if verdict.outcome == NO_ACTIVITY:
                metrics.add_metric(name="NoActivity", unit=MetricUnit.Count, value=1)
            if verdict.outcome == FLAGGED:
                metrics.add_metric(name="Flagged", unit=MetricUnit.Count, value=1)
            if verdict.outcome == ALREADY_FLAGGED:
                metrics.add_metric(name="AlreadyFlagged", unit=MetricUnit.Count, value=1)
            for stage, ms in verdict.timings_ms.items():
                metrics.add_metric(name=f"{stage.capitalize()}Time", unit=MetricUnit.Milliseconds, value=ms)
            logger.info(
                "withdrawal scored",
                extra={
                    "outcome": verdict.outcome,
                    "score": verdict.score,
                    "symbol_scores": verdict.symbol_scores,
                    "round_trip": verdict.round_trip,
                    "trade_count": verdict.trade_count,
                    "invalid_trades": list(verdict.invalid_trades[:10]),
                    "window_end": withdrawal.requested_at.isoformat(),
                    "timings_ms": {k: round(v, 2) for k, v in verdict.timings_ms.items()},
                },
            )
            return verdict.outcome
        finally:
            logger.set_correlation_id(None)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Optional[LambdaContext]) -> PartialItemFailureResponse:
    # A bad configuration fails the whole invocation with the variable's name, before any record.
    get_settings()
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )

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

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from scoring.clients import client
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
from scoring.trades import TradesTable
from scoring.validation import validation_summary

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "chartguard-scoring"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Chartguard"))
tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "chartguard-scoring"))


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
        predictor=SageMakerPredictor(client("sagemaker-runtime"), settings.endpoint_name),
        recorder=RiskRecorder(
            dynamodb=dynamodb,
            s3=client("s3"),
            table_name=settings.risk_table,
            bucket=settings.evidence_bucket,
        ),
        threshold=settings.risk_threshold,
        window_hours=settings.window_hours,
    )


class ScoringBatchProcessor(BatchProcessor):
    """Powertools' SQS batch processor that also says, for every failed record, why."""

    def failure_handler(self, record: Any, exception: Any) -> Any:
        error = exception[1]
        message_id = getattr(record, "message_id", None) or getattr(record, "messageId", None)
        if isinstance(error, ValidationError):
            reason, detail = RejectedMessage.reason, validation_summary(error)
        elif isinstance(error, ScoringError):
            reason, detail = error.reason, str(error)
        else:
            reason, detail = "unexpected", f"{type(error).__name__}: {error}"
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


# WithdrawalRecord has the SqsRecordModel fields Powertools reads (messageId) without its import cost.
processor = ScoringBatchProcessor(event_type=EventType.SQS, model=WithdrawalRecord)  # type: ignore[arg-type]


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


@tracer.capture_method
def record_handler(record: WithdrawalRecord) -> str:
    withdrawal = withdrawal_from(record)
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
            )
            metrics.add_metric(name="MessagesScored", unit=MetricUnit.Count, value=1)
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
                    "trade_count": verdict.trade_count,
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

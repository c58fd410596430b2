"""The withdrawal message (contract 1) and the SQS record that carries it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, Json, field_validator, model_validator

# An id goes into the risk table's keys and the evidence objects' S3 keys: ASCII letters, digits
# and `._:@+=-`, starting with a letter or digit (so never `.` or `..`), at most 128 characters.
# Percent-encoded (at most 3 bytes a character) two ids, a time and a symbol stay well inside
# S3's 1,024-byte key, and `<requested_at>#<withdrawal_id>` inside DynamoDB's 1,024-byte sort key.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+=-]*$"
ID_MAX_LENGTH = 128
# How far requested_at may lie from the message's SentTimestamp. Before it: as long as a message
# can exist before it is redriven from the dead-letter queue as a new one (queue retention 7 days
# + dead-letter retention 14). After it: clock skew between the business system and SQS. Outside
# these the window would hold no trades and pass as "no activity".
MAX_REQUESTED_AT_BEFORE_SENT = timedelta(days=21)
MAX_REQUESTED_AT_AFTER_SENT = timedelta(minutes=5)


class WithdrawalMessage(BaseModel):
    """Sent by the business system when a customer asks to withdraw.

    Unknown fields are refused: a misspelt `requestedAt` must not fall back to SentTimestamp.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)
    withdrawal_id: str = Field(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)
    requested_at: Optional[datetime] = None
    amount: Optional[str] = Field(default=None, max_length=64)
    asset: Optional[str] = Field(default=None, max_length=64)

    @field_validator("requested_at")
    @classmethod
    def _utc(cls, value: Optional[datetime]) -> Optional[datetime]:
        if value is not None and value.tzinfo is None:
            raise ValueError("requested_at must carry a time zone (ISO-8601 UTC, e.g. 2026-11-22T04:07:21Z)")
        return value.astimezone(timezone.utc) if value is not None else None

    @field_validator("amount")
    @classmethod
    def _decimal_string(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"amount must be a decimal string, got {value!r}") from None
        if not number.is_finite():
            raise ValueError(f"amount must be a finite decimal, got {value!r}")
        return value


class SqsRecordAttributes(BaseModel):
    model_config = ConfigDict(extra="allow")

    ApproximateReceiveCount: str = "1"
    SentTimestamp: datetime  # epoch milliseconds, as SQS sends it


class WithdrawalRecord(BaseModel):
    """An SQS record whose body is a contract-1 JSON message (parsed by Powertools' BatchProcessor).

    The fields of Powertools' SqsRecordModel that the function reads. That model lives in a
    package that imports every event source's model, 0.38 s of a 1.56 s cold import measured
    with `python3.9 -X importtime -c "import scoring.handler"`; this one costs nothing extra.
    """

    model_config = ConfigDict(extra="allow")

    messageId: str
    receiptHandle: str
    body: Json[WithdrawalMessage]
    attributes: SqsRecordAttributes

    @model_validator(mode="after")
    def _requested_near_sent(self) -> WithdrawalRecord:
        requested, sent = self.body.requested_at, self.attributes.SentTimestamp
        if requested is None:
            return self
        if requested < sent - MAX_REQUESTED_AT_BEFORE_SENT:
            raise ValueError(
                f"requested_at {requested.isoformat()} is more than "
                f"{MAX_REQUESTED_AT_BEFORE_SENT.days} days before the message was sent ({sent.isoformat()})"
            )
        if requested > sent + MAX_REQUESTED_AT_AFTER_SENT:
            raise ValueError(
                f"requested_at {requested.isoformat()} is after the message was sent ({sent.isoformat()})"
            )
        return self

"""Contract 1's bounds: ids fit the keys they go into, requested_at lies near the send, no unknown field."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from pydantic import ValidationError

from scoring.market import format_utc
from scoring.messages import (
    ID_MAX_LENGTH,
    MAX_REQUESTED_AT_AFTER_SENT,
    MAX_REQUESTED_AT_BEFORE_SENT,
    WithdrawalMessage,
    WithdrawalRecord,
)

SENT = datetime(2026, 11, 22, 4, 0, 0, tzinfo=timezone.utc)


def record(body: dict, sent: datetime = SENT) -> WithdrawalRecord:
    return WithdrawalRecord.model_validate(
        {
            "messageId": "m-1",
            "receiptHandle": "r-1",
            "body": json.dumps(body),
            "attributes": {"SentTimestamp": str(int(sent.timestamp() * 1000))},
        }
    )


def at(moment: datetime) -> dict:
    return {"user_id": "u-1", "withdrawal_id": "w-1", "requested_at": format_utc(moment)}


def test_requested_at_within_the_bounds_is_read() -> None:
    for moment in (
        SENT,
        SENT - MAX_REQUESTED_AT_BEFORE_SENT + timedelta(seconds=1),
        SENT + MAX_REQUESTED_AT_AFTER_SENT,
    ):
        assert record(at(moment)).body.requested_at == moment


@pytest.mark.parametrize(
    "moment",
    [
        SENT - MAX_REQUESTED_AT_BEFORE_SENT - timedelta(seconds=1),
        datetime(1970, 1, 1, tzinfo=timezone.utc),
        SENT + MAX_REQUESTED_AT_AFTER_SENT + timedelta(seconds=1),
        datetime(2099, 1, 1, tzinfo=timezone.utc),
    ],
)
def test_requested_at_far_from_the_send_is_rejected(moment: datetime) -> None:
    with pytest.raises(ValidationError, match=r"requested_at .* (before|after) the message was sent"):
        record(at(moment))


def test_without_requested_at_there_is_nothing_to_bound() -> None:
    assert record({"user_id": "u-1", "withdrawal_id": "w-1"}).body.requested_at is None


@pytest.mark.parametrize("field", ["requestedAt", "requested-at", "userId", "channel"])
def test_an_unknown_field_is_rejected_by_name(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        WithdrawalMessage.model_validate({"user_id": "u", "withdrawal_id": "w", field: "x"})
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [((field,), "extra_forbidden")]


@pytest.mark.parametrize(
    "value",
    [".", "..", "a/b", "../etc", "-leading", "ü-user", "a b", "w#1", "x" * (ID_MAX_LENGTH + 1), ""],
)
@pytest.mark.parametrize("field", ["user_id", "withdrawal_id"])
def test_an_id_unfit_for_a_key_is_rejected(field: str, value: str) -> None:
    body = {"user_id": "u-1", "withdrawal_id": "w-1", field: value}
    with pytest.raises(ValidationError) as caught:
        WithdrawalMessage.model_validate(body)
    assert {e["loc"][0] for e in caught.value.errors()} == {field}


@pytest.mark.parametrize(
    "value", ["u-1842", "W_20261122.0007", "acct:eu@exchange", "a+b=c", "9" * ID_MAX_LENGTH]
)
def test_ordinary_ids_are_accepted(value: str) -> None:
    message = WithdrawalMessage.model_validate({"user_id": value, "withdrawal_id": value})
    assert message.user_id == message.withdrawal_id == value


def test_the_longest_ids_fit_s3_and_dynamodb_keys() -> None:
    from scoring.risk import RiskFlag

    worst = "=" * ID_MAX_LENGTH  # every character but the first percent-encoded: 3 bytes each
    message = WithdrawalMessage.model_validate({"user_id": "u" + worst[1:], "withdrawal_id": "w" + worst[1:]})
    flag = RiskFlag(
        user_id=message.user_id,
        withdrawal_id=message.withdrawal_id,
        requested_at=SENT,
        scored_at=SENT,
        score=0.99,
        threshold=0.9,
        symbol_scores={},
        trade_count=1,
        window_start=SENT - timedelta(hours=24),
        window_end=SENT,
        endpoint="e",
        render_version="chart-v1",
    )
    assert len(quote(message.user_id, safe="")) == 1 + 3 * (ID_MAX_LENGTH - 1)
    assert len(flag.event_key.encode()) <= 1024  # DynamoDB's sort-key limit
    assert len(message.user_id.encode()) <= 2048  # DynamoDB's partition-key limit
    longest_symbol = "S" * 32
    assert len(flag.evidence_key(longest_symbol, b"png").encode()) <= 1024  # S3's key limit

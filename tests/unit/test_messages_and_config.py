"""Contract 1 (the withdrawal message) and contract 7 (the function's configuration)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from scoring.messages import WithdrawalMessage
from scoring.settings import ConfigurationError, Settings

ENV = {
    "TRADES_TABLE": "trades",
    "KLINES_TABLE": "klines",
    "RISK_TABLE": "risk",
    "EVIDENCE_BUCKET": "evidence-bucket",
    "ENDPOINT_NAME": "chart-classifier",
}


def parse(body: dict) -> WithdrawalMessage:
    return WithdrawalMessage.model_validate_json(json.dumps(body))


def test_minimal_message_needs_only_user_and_withdrawal_ids():
    message = parse({"user_id": "u-1", "withdrawal_id": "w-1"})
    assert (message.user_id, message.withdrawal_id, message.requested_at) == ("u-1", "w-1", None)


def test_requested_at_is_read_as_utc():
    message = parse({"user_id": "u", "withdrawal_id": "w", "requested_at": "2026-11-22T12:00:00+08:00"})
    assert message.requested_at == datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"withdrawal_id": "w"}, "user_id"),
        ({"user_id": "u"}, "withdrawal_id"),
        ({"user_id": "", "withdrawal_id": "w"}, "user_id"),
        ({"user_id": "u", "withdrawal_id": "w", "requested_at": "2026-11-22T04:00:00"}, "requested_at"),
        ({"user_id": "u", "withdrawal_id": "w", "requested_at": "yesterday"}, "requested_at"),
        ({"user_id": "u", "withdrawal_id": "w", "amount": "a lot"}, "amount"),
        ({"user_id": "u", "withdrawal_id": "w", "amount": "NaN"}, "amount"),
    ],
)
def test_a_bad_message_is_refused_naming_the_field(body, field):
    with pytest.raises(ValidationError) as caught:
        parse(body)
    assert field in {str(e["loc"][0]) for e in caught.value.errors()}


def test_settings_defaults_follow_contract_7():
    settings = Settings.from_environ(ENV)
    assert settings.risk_threshold == 0.90 and settings.window_hours == 24
    assert settings.endpoint_name == "chart-classifier"
    assert settings.klines_cache_seconds == 600  # an optional addition to contract 7


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"ENDPOINT_NAME": None}, "ENDPOINT_NAME"),
        ({"TRADES_TABLE": None}, "TRADES_TABLE"),
        ({"RISK_THRESHOLD": "1.5"}, "RISK_THRESHOLD"),
        ({"RISK_THRESHOLD": "ninety"}, "RISK_THRESHOLD"),
        ({"WINDOW_HOURS": "0"}, "WINDOW_HOURS"),
        ({"KLINES_CACHE_SECONDS": "-1"}, "KLINES_CACHE_SECONDS"),
        ({"KLINES_CACHE_SECONDS": "a while"}, "KLINES_CACHE_SECONDS"),
        ({"KLINES_CACHE_SECONDS": "86400"}, "KLINES_CACHE_SECONDS"),
    ],
)
def test_a_missing_or_bad_variable_is_named(change, named):
    env = {**ENV, **{k: v for k, v in change.items() if v is not None}}
    for key in (k for k, v in change.items() if v is None):
        env.pop(key)
    with pytest.raises(ConfigurationError, match=named):
        Settings.from_environ(env)

"""The Lambda entry point: Powertools batch wiring, partial failures and their logged reasons."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest

from local.lambda_context import LocalLambdaContext
from scoring import handler
from scoring.contracts import DEFAULT_RISK_THRESHOLD
from scoring.errors import MissingMarketData
from scoring.klines import CachedKlines, KlinesTable
from scoring.market import epoch_to_utc
from scoring.settings import ConfigurationError
from tests.unit.fakes import FakeKlines, FakePredictor, FakeRecorder, FakeTrades
from tests.unit.test_decision import MARKET, TRADES

EVENT = json.loads((Path(__file__).parent.parent / "events" / "sqs_withdrawals.json").read_text())
HACKER, NORMAL, NOT_JSON, NO_USER = (r["messageId"] for r in EVENT["Records"])


@pytest.fixture
def fakes(function_env, monkeypatch):
    hacker_trades = [t.__class__(**{**t.__dict__, "user_id": "u-hacker-1"}) for t in TRADES]
    recorder = FakeRecorder()
    predictor = FakePredictor(lambda png: 0.97)
    collaborators = {
        "trades": FakeTrades(hacker_trades),
        "klines": FakeKlines(MARKET),
        "predictor": predictor,
        "recorder": recorder,
        "threshold": DEFAULT_RISK_THRESHOLD,
        "window_hours": 24,
    }
    # Built at each call, so that a test can swap one of them in the dict first.
    monkeypatch.setattr(handler, "collaborators", lambda: handler.Collaborators(**collaborators))
    return collaborators


@pytest.fixture
def logs(monkeypatch):
    """The function's structured log lines, parsed (Powertools' handler keeps its own stream)."""
    stream = io.StringIO()
    monkeypatch.setattr(handler.logger.registered_handler, "stream", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


def failed_ids(response: dict) -> set[str]:
    return {f["itemIdentifier"] for f in response["batchItemFailures"]}


def test_malformed_records_fail_alone_and_the_good_ones_are_scored(fakes, logs, capsys):
    response = handler.lambda_handler(copy.deepcopy(EVENT), LocalLambdaContext())
    assert failed_ids(response) == {NOT_JSON, NO_USER}
    ((key, flag),) = fakes["recorder"].flags.items()
    assert key == ("u-hacker-1", "2025-11-16T00:00:00.000Z#w-1001") and flag.score == 0.97
    lines = logs()
    rejected = [entry for entry in lines if entry.get("reason") == "rejected"]
    assert {entry["message_id"] for entry in rejected} == {NOT_JSON, NO_USER}
    assert any("user_id" in entry["detail"] for entry in rejected)
    assert any("Invalid JSON" in entry["detail"] or "json" in entry["detail"].lower() for entry in rejected)
    scored = [entry for entry in lines if entry.get("message") == "withdrawal scored"]
    assert {(e["withdrawal_id"], e["outcome"]) for e in scored} == {
        ("w-1001", "flagged"),
        ("w-1002", "no-activity"),
    }
    assert all(e["correlation_id"] in {"w-1001", "w-1002"} for e in scored)
    (emf,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf["MessagesScored"] == [1.0, 1.0] and emf["MessagesRejected"] == [1.0, 1.0]
    assert emf["Flagged"] == [1.0] and emf["NoActivity"] == [1.0]


def test_without_requested_at_the_window_ends_at_the_sent_timestamp(fakes):
    handler.lambda_handler(copy.deepcopy(EVENT), LocalLambdaContext())
    normal_window = [w for w in fakes["trades"].windows if w[0] == "u-normal-1"]
    assert normal_window[0][2] == epoch_to_utc(1763251200)


def test_a_record_that_cannot_be_decided_fails_alone_with_its_reason(fakes, logs):
    fakes["klines"] = FakeKlines({})  # market data has not arrived
    response = handler.lambda_handler(copy.deepcopy(EVENT), LocalLambdaContext())
    assert failed_ids(response) == {HACKER, NOT_JSON, NO_USER}
    assert fakes["recorder"].flags == {}
    assert any(e.get("reason") == MissingMarketData.reason and e["message_id"] == HACKER for e in logs())


def test_an_unexpected_error_fails_only_its_record_and_is_logged_as_an_error(fakes, logs):
    fakes["predictor"] = FakePredictor(lambda png: (_ for _ in ()).throw(KeyError("boom")))
    response = handler.lambda_handler(copy.deepcopy(EVENT), LocalLambdaContext())
    assert HACKER in failed_ids(response) and NORMAL not in failed_ids(response)
    assert any(e.get("reason") == "unexpected" and e["level"] == "ERROR" for e in logs())


def test_a_missing_variable_fails_the_invocation_naming_it(function_env, monkeypatch):
    monkeypatch.delenv("ENDPOINT_NAME")
    with pytest.raises(ConfigurationError, match="ENDPOINT_NAME"):
        handler.lambda_handler(copy.deepcopy(EVENT), LocalLambdaContext())


@pytest.mark.parametrize(("seconds", "kind"), [("600", CachedKlines), ("0", KlinesTable)])
def test_the_klines_cache_is_on_by_default_and_off_at_zero(function_env, monkeypatch, seconds, kind):
    monkeypatch.setenv("KLINES_CACHE_SECONDS", seconds)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert type(handler.collaborators().klines) is kind

"""The handler's dead-lettering at once and its time budget (fakes; no AWS, no network)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest

from local.lambda_context import LocalLambdaContext
from scoring import handler
from scoring.errors import RetryLater
from tests.unit import test_handler
from tests.unit.test_handler import EVENT, HACKER, NO_USER, NORMAL, NOT_JSON, failed_ids

# The handler tests' fixtures: the decision's fakes, and the function's log lines.
fakes = test_handler.fakes
logs = test_handler.logs


class FakeDeadLetters:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict] = []
        self.fail = fail

    def send(self, body: str, **attributes: str) -> str:
        if self.fail:
            raise RetryLater("send message to the dead-letter queue: ServiceUnavailable")
        self.sent.append({"body": body, **attributes})
        return f"dead-{len(self.sent)}"


@dataclass
class TimedContext(LocalLambdaContext):
    left_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.left_ms


@pytest.fixture
def dead_letters(monkeypatch):
    queue = FakeDeadLetters()
    monkeypatch.setattr(handler, "dead_letter_queue", lambda: queue)
    return queue


def test_a_rejected_message_goes_to_the_dead_letter_queue_at_once_with_its_reason(fakes, dead_letters, logs):
    response = handler.lambda_handler(copy.deepcopy(EVENT), LocalLambdaContext())
    assert failed_ids(response) == set()  # reported done: SQS deletes it, the DLQ holds it
    by_id = {sent["message_id"]: sent for sent in dead_letters.sent}
    assert set(by_id) == {NOT_JSON, NO_USER}
    bodies = {r["messageId"]: r["body"] for r in EVENT["Records"]}
    for message_id, sent in by_id.items():
        assert sent["body"] == bodies[message_id]  # as it came
        assert sent["reason"] == "rejected" and sent["receive_count"] == "1"
    assert "user_id" in by_id[NO_USER]["detail"]
    dead = [e for e in logs() if e.get("message") == "withdrawal dead-lettered"]
    assert {e["message_id"] for e in dead} == {NOT_JSON, NO_USER}


def test_if_the_dead_letter_send_fails_the_record_fails_and_takes_the_redrive(fakes, monkeypatch, logs):
    monkeypatch.setattr(handler, "dead_letter_queue", lambda: FakeDeadLetters(fail=True))
    response = handler.lambda_handler(copy.deepcopy(EVENT), LocalLambdaContext())
    assert failed_ids(response) == {NOT_JSON, NO_USER}
    assert any(e.get("message") == "dead-letter send failed" for e in logs())


def test_without_a_dead_letter_queue_url_a_rejected_message_takes_the_redrive(fakes):
    assert handler.dead_letter_queue() is None  # the unit tests' environment names none
    assert failed_ids(handler.lambda_handler(copy.deepcopy(EVENT), LocalLambdaContext())) == {
        NOT_JSON,
        NO_USER,
    }


def test_a_retryable_failure_is_never_dead_lettered_at_once(fakes, dead_letters):
    fakes["predictor"]._fail = RetryLater("invoke endpoint: ThrottlingException")
    response = handler.lambda_handler(copy.deepcopy(EVENT), LocalLambdaContext())
    assert HACKER in failed_ids(response)
    assert HACKER not in {sent["message_id"] for sent in dead_letters.sent}


def test_records_not_started_in_time_fail_alone_and_come_back(fakes, dead_letters, logs):
    budget = handler.step_seconds()["start"]
    response = handler.lambda_handler(copy.deepcopy(EVENT), TimedContext(left_ms=int(budget * 1000)))
    # The two well-formed records could not start; the two rejected ones needed no time.
    assert failed_ids(response) == {HACKER, NORMAL}
    assert fakes["recorder"].flags == {}
    reasons = {e["message_id"]: e["reason"] for e in logs() if e.get("message") == "withdrawal not scored"}
    assert reasons == {HACKER: "time-budget", NORMAL: "time-budget"}


def test_with_time_enough_the_budget_lets_every_record_through(fakes, dead_letters):
    response = handler.lambda_handler(copy.deepcopy(EVENT), TimedContext(left_ms=60_000))
    assert failed_ids(response) == set() and len(fakes["recorder"].flags) == 1


def test_the_steps_worst_cases_fit_the_function_timeout_with_room_to_spare():
    steps = handler.step_seconds()
    # One endpoint round and one write can never take the whole 60 s invocation.
    assert steps["endpoint"] < 60 / 2 and steps["write"] < 60 - steps["start"]


def test_an_account_over_the_limits_is_held_for_review_at_once(fakes, dead_letters, monkeypatch):
    import scoring.decision

    monkeypatch.setattr(scoring.decision, "MAX_SYMBOLS_PER_WITHDRAWAL", 1)  # the hacker trades two
    response = handler.lambda_handler(copy.deepcopy(EVENT), LocalLambdaContext())
    assert failed_ids(response) == set()
    held = [sent for sent in dead_letters.sent if sent["message_id"] == HACKER]
    assert len(held) == 1 and held[0]["reason"] == "over-limit"
    assert fakes["recorder"].flags == {}


def test_a_batch_whose_every_record_fails_is_a_partial_response_not_an_invocation_error(fakes):
    fakes["predictor"]._fail = RetryLater("invoke endpoint: ServiceUnavailable")
    event = copy.deepcopy(EVENT)
    event["Records"] = [r for r in event["Records"] if r["messageId"] == HACKER]
    assert failed_ids(handler.lambda_handler(event, LocalLambdaContext())) == {HACKER}

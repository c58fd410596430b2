"""A message retrying cannot help is sent to the dead-letter queue with its reason (Stubber, no network)."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from scoring.dead_letters import MAX_DETAIL_CHARS, DeadLetterQueue
from scoring.errors import RetryLater
from tests.unit.test_adapters import offline_client

DLQ = "https://sqs.us-east-1.amazonaws.com/111122223333/chartguard-dlq"


def test_the_body_goes_unchanged_with_its_reason_detail_and_origin():
    sqs = offline_client("sqs")
    with Stubber(sqs) as stub:
        stub.add_response(
            "send_message",
            {"MessageId": "dead-1"},
            {
                "QueueUrl": DLQ,
                "MessageBody": "not json",
                "MessageAttributes": {
                    "reason": {"DataType": "String", "StringValue": "rejected"},
                    "detail": {"DataType": "String", "StringValue": "body: Invalid JSON"},
                    "source_message_id": {"DataType": "String", "StringValue": "m-1"},
                    "receive_count": {"DataType": "String", "StringValue": "1"},
                },
            },
        )
        sent = DeadLetterQueue(sqs, DLQ).send(
            "not json", reason="rejected", detail="body: Invalid JSON", message_id="m-1", receive_count="1"
        )
    assert sent == "dead-1"


def test_a_long_detail_is_cut_and_an_empty_one_named_by_its_reason():
    sqs = offline_client("sqs")
    seen = []
    with Stubber(sqs) as stub:
        for _ in range(2):
            stub.add_response("send_message", {"MessageId": "d"})
        sqs.meta.events.register(
            "before-parameter-build.sqs.SendMessage", lambda params, **kw: seen.append(params)
        )
        queue = DeadLetterQueue(sqs, DLQ)
        queue.send("{}", reason="over-limit", detail="x" * 10_000, message_id="m", receive_count="2")
        queue.send("{}", reason="over-limit", detail="", message_id="m", receive_count="2")
    details = [p["MessageAttributes"]["detail"]["StringValue"] for p in seen]
    assert details == ["x" * MAX_DETAIL_CHARS, "over-limit"]


def test_a_failed_send_is_retry_later_so_the_record_takes_the_slow_road():
    sqs = offline_client("sqs")
    with Stubber(sqs) as stub:
        stub.add_client_error("send_message", service_error_code="ServiceUnavailable", http_status_code=503)
        with pytest.raises(RetryLater, match="dead-letter queue"):
            DeadLetterQueue(sqs, DLQ).send(
                "{}", reason="rejected", detail="d", message_id="m", receive_count="1"
            )

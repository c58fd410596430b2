"""The scoring function end to end over real HTTP: SQS -> handler -> DynamoDB, S3, endpoint.

moto's server holds the queue, tables and bucket; the endpoint stand-in serves the trained model
through the artifact's own inference code; the event-source runner calls the real handler with
Lambda-shaped events and deletes only what succeeded, as Lambda's event source mapping does.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta, timezone

import pytest
from boto3.dynamodb.types import TypeDeserializer

from infra.constants import MAX_RECEIVE_COUNT
from local.event_source_mapping import EventSourceMappingRunner
from local.resources import LOCAL_RETRY_DELAY_SECONDS, put_items
from scoring import handler
from scoring.chart import render_chart
from scoring.clients import client_config
from scoring.contracts import RISK_BY_DAY_INDEX
from scoring.market import format_utc, window_bar_range
from scoring.reasons import reasons
from scoring.round_trip import FEATURE_NAMES, named_round_trip_features
from tests.conftest import FUNCTION_ENV
from tests.integration.conftest import set_faults

pytestmark = pytest.mark.integration

# Yesterday afternoon: requested_at must lie within days of the message's SentTimestamp (now).
WINDOW_END = (datetime.now(timezone.utc) - timedelta(days=1)).replace(
    hour=13, minute=37, second=0, microsecond=0
)
DAY = format_utc(WINDOW_END)[:10]
SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD")
_deserialize = TypeDeserializer().deserialize


@pytest.fixture(scope="module")
def market():
    from training.market_data import synthetic_klines

    return synthetic_klines(SYMBOLS, WINDOW_END, days=2, seed=20261120)


@pytest.fixture(scope="module")
def accounts(market):
    from training.simulate import simulate_accounts

    # A seed the model never trained on: these are held-out accounts.
    return simulate_accounts(market, n_hacker=5, n_normal=5, seed=777, window_end=WINDOW_END)


@pytest.fixture
def loaded(aws, market, accounts):
    put_items(
        aws["dynamodb"],
        FUNCTION_ENV["KLINES_TABLE"],
        (bar.to_item() for bars in market.values() for bar in bars),
    )
    put_items(
        aws["dynamodb"], FUNCTION_ENV["TRADES_TABLE"], (t.to_item() for a in accounts for t in a.trades)
    )
    return aws


def send(aws, body) -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return aws["sqs"].send_message(QueueUrl=aws["resources"].queue_url, MessageBody=text)["MessageId"]


def withdrawal(user_id: str, withdrawal_id: str) -> dict:
    return {"user_id": user_id, "withdrawal_id": withdrawal_id, "requested_at": format_utc(WINDOW_END)}


def event_source(aws, batching_window: float = 1.0) -> EventSourceMappingRunner:
    """The local event source over the test queue; a failed message reappears after a second."""
    return EventSourceMappingRunner(
        sqs=aws["sqs"],
        queue_url=aws["resources"].queue_url,
        handler=handler.lambda_handler,
        batching_window=batching_window,
        retry_delay=LOCAL_RETRY_DELAY_SECONDS,
    )


def drain(aws, *, rounds: int = 20, quiet_rounds: int = 2) -> list:
    """Run the event source until the queue has been empty for `quiet_rounds` polls."""
    source = event_source(aws, batching_window=0.2)
    outcomes, quiet = [], 0
    for _ in range(rounds):
        outcome = source.poll_once()
        outcomes.append(outcome)
        quiet = quiet + 1 if outcome.received == 0 else 0
        if quiet >= quiet_rounds:
            break
    return outcomes


def risk_records(aws) -> list[dict]:
    items = aws["dynamodb"].scan(TableName=FUNCTION_ENV["RISK_TABLE"])["Items"]
    return [{k: _deserialize(v) for k, v in item.items()} for item in items]


def evidence_keys(aws) -> list[str]:
    listing = aws["s3"].list_objects_v2(Bucket=FUNCTION_ENV["EVIDENCE_BUCKET"])
    return sorted(obj["Key"] for obj in listing.get("Contents", []))


def queue_depths(aws) -> tuple[int, int]:
    def depth(url: str) -> int:
        attributes = aws["sqs"].get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    return depth(aws["resources"].queue_url), depth(aws["resources"].dlq_url)


def test_thieves_are_flagged_and_customers_pass(loaded, endpoint, accounts):
    for n, account in enumerate(accounts):
        send(loaded, withdrawal(account.user_id, f"w-{n}"))
    drain(loaded)
    flagged = {record["user_id"] for record in risk_records(loaded)}
    # Model quality is measured by `make evaluate` on thousands of held-out accounts, per variant
    # (docs/evaluation/). Here the plain cases must come out right whichever trained model is
    # cached: plain thefts flagged, plain customers not. Scalpers and volatile-bar traders are
    # the known false positives and decoy-mixing thieves the known misses; the evaluation counts them.
    plain_thefts = {
        a.user_id for a in accounts if a.label == "hacker" and a.variant in ("classic", "multi_symbol")
    }
    plain_customers = {a.user_id for a in accounts if a.variant in ("one_or_two", "dca", "day_trader")}
    assert plain_thefts and plain_thefts <= flagged, "a plain theft was not flagged"
    assert plain_customers and not plain_customers & flagged, "a plain customer was flagged"
    assert queue_depths(loaded) == (0, 0)


def test_risk_record_and_evidence_follow_contract_4(loaded, endpoint, accounts, market):
    thief = next(a for a in accounts if a.label == "hacker" and len(a.symbols) > 1)
    send(loaded, withdrawal(thief.user_id, "w-contract"))
    drain(loaded)
    (record,) = risk_records(loaded)
    assert record["user_id"] == thief.user_id
    assert record["event_key"] == f"{format_utc(WINDOW_END)}#w-contract"
    assert record["withdrawal_id"] == "w-contract" and record["requested_at"] == format_utc(WINDOW_END)
    assert record["day"] == DAY and record["status"] == "open" and record["detector"] == "chart-classifier"
    assert float(record["threshold"]) == 0.9 and 0.9 < float(record["score"]) <= 1.0
    assert set(record["symbol_scores"]) == set(thief.symbols)
    assert float(record["score"]) == max(float(v) for v in record["symbol_scores"].values())
    assert record["trade_count"] == len(thief.trades) and record["render_version"] == "chart-v3"
    assert record["endpoint"] == FUNCTION_ENV["ENDPOINT_NAME"]
    assert record["window_start"] == format_utc(WINDOW_END - timedelta(hours=24)) and record[
        "window_end"
    ] == format_utc(WINDOW_END)
    assert datetime.fromisoformat(record["scored_at"].replace("Z", "+00:00")) > WINDOW_END

    # The evidence is exactly the image the model scored: the renderer's output for this window.
    assert len(record["evidence"]) == len(thief.symbols)
    first, last = window_bar_range(WINDOW_END - timedelta(hours=24), WINDOW_END)
    for uri, symbol in zip(sorted(record["evidence"]), thief.symbols):
        key = uri.split("/", 3)[3]
        body = loaded["s3"].get_object(Bucket=FUNCTION_ENV["EVIDENCE_BUCKET"], Key=key)["Body"].read()
        bars = [b for b in market[symbol] if first <= b.open_time <= last]
        assert body == render_chart(bars, [t for t in thief.trades if t.symbol == symbol]), symbol

    # The round-trip evidence: each symbol's features from the same bars and trades, and the
    # reasons made from them, the deciding symbol first.
    expected = {
        symbol: named_round_trip_features(
            [b for b in market[symbol] if first <= b.open_time <= last],
            [t for t in thief.trades if t.symbol == symbol],
        )
        for symbol in thief.symbols
    }
    written = {s: {name: float(v) for name, v in f.items()} for s, f in record["round_trip"].items()}
    assert written == expected and all(set(f) == set(FEATURE_NAMES) for f in written.values())
    scores = {s: float(p) for s, p in record["symbol_scores"].items()}
    assert record["reasons"] == reasons(written, scores) and len(record["reasons"]) == len(thief.symbols)
    assert record["reasons"][0].startswith(max(scores, key=scores.__getitem__) + ": ")

    # Analysts list a day's flags highest first through the by-day index.
    page = loaded["dynamodb"].query(
        TableName=FUNCTION_ENV["RISK_TABLE"],
        IndexName=RISK_BY_DAY_INDEX.name,
        KeyConditionExpression="#d = :d",
        ExpressionAttributeNames={"#d": "day"},
        ExpressionAttributeValues={":d": {"S": DAY}},
        ScanIndexForward=False,
    )
    assert [item["user_id"]["S"] for item in page["Items"]] == [thief.user_id]


def test_a_redelivered_withdrawal_makes_one_record_and_one_set_of_evidence(loaded, endpoint, accounts):
    thief = next(a for a in accounts if a.label == "hacker")
    for _ in range(3):  # the business system retried, and SQS may deliver twice
        send(loaded, withdrawal(thief.user_id, "w-dup"))
    drain(loaded)
    assert len(risk_records(loaded)) == 1
    assert len(evidence_keys(loaded)) == len(thief.symbols)


def test_malformed_messages_end_in_the_dead_letter_queue_and_the_rest_is_scored(loaded, endpoint, accounts):
    thief = next(a for a in accounts if a.label == "hacker")
    send(loaded, "not json at all")
    send(loaded, {"user_id": "u-without-withdrawal-id"})
    send(loaded, withdrawal(thief.user_id, "w-good"))
    outcomes = drain(loaded, rounds=60, quiet_rounds=3)
    assert len(risk_records(loaded)) == 1
    assert sum(o.failed for o in outcomes) == 2 * MAX_RECEIVE_COUNT
    assert queue_depths(loaded) == (0, 2)
    dead = loaded["sqs"].receive_message(QueueUrl=loaded["resources"].dlq_url, MaxNumberOfMessages=10)[
        "Messages"
    ]
    assert sorted(m["Body"] for m in dead) == sorted(
        ["not json at all", json.dumps({"user_id": "u-without-withdrawal-id"})]
    )


def test_a_message_retrying_cannot_help_is_dead_lettered_at_once_with_its_reason(
    loaded, endpoint, accounts, monkeypatch
):
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", loaded["resources"].dlq_url)
    for cache in (handler.get_settings, handler.dead_letter_queue):
        cache.cache_clear()
    thief = next(a for a in accounts if a.label == "hacker")
    bad = {
        "not json at all": "json",
        json.dumps(
            {"user_id": "u-1", "withdrawal_id": "w-1", "requestedAt": "2026-11-20T13:37:00Z"}
        ): "requestedat",
        json.dumps({"user_id": "../u", "withdrawal_id": "w-2"}): "user_id",
        json.dumps(
            {"user_id": "u-1", "withdrawal_id": "w-3", "requested_at": "1970-01-01T00:00:00Z"}
        ): "requested_at",
    }
    ids = {send(loaded, body): body for body in bad}
    send(loaded, withdrawal(thief.user_id, "w-good"))
    outcomes = drain(loaded, rounds=20, quiet_rounds=2)
    assert sum(o.failed for o in outcomes) == 0  # not one retry: each went at once
    assert len(risk_records(loaded)) == 1 and queue_depths(loaded) == (0, len(bad))
    dead = loaded["sqs"].receive_message(
        QueueUrl=loaded["resources"].dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    by_source = {m["MessageAttributes"]["source_message_id"]["StringValue"]: m for m in dead}
    assert set(by_source) == set(ids)
    for message_id, message in by_source.items():
        body = ids[message_id]
        assert message["Body"] == body
        attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        assert attributes["reason"] == "rejected" and bad[body] in attributes["detail"].lower(), attributes


def test_an_endpoint_slowed_past_the_read_timeout_fails_the_record_not_the_batch(loaded, endpoint, accounts):
    thief = next(a for a in accounts if a.label == "hacker")
    read_timeout = client_config("sagemaker-runtime").read_timeout
    before = set_faults(endpoint, delay_rate=1.0, delay_seconds=read_timeout + 1)
    send(loaded, withdrawal(thief.user_id, "w-slow"))
    outcome = event_source(loaded).poll_once()
    stats = set_faults(endpoint, rate=0.0)
    # The record failed (retry-later) well inside the function's timeout: nothing was lost to it.
    assert (outcome.received, outcome.failed, outcome.timed_out) == (1, 1, False)
    assert stats["delayed_injected"] > before["delayed_injected"]
    assert risk_records(loaded) == [] and evidence_keys(loaded) == []
    time.sleep(1.1)
    drain(loaded)
    assert [r["withdrawal_id"] for r in risk_records(loaded)] == ["w-slow"]


def test_evidence_is_locked_and_never_replaced(loaded, endpoint, accounts, monkeypatch):
    monkeypatch.setenv("RECORD_RETENTION_DAYS", "400")
    for cache in (handler.get_settings, handler.collaborators):
        cache.cache_clear()
    thief = next(a for a in accounts if a.label == "hacker")
    send(loaded, withdrawal(thief.user_id, "w-locked"))
    drain(loaded)
    (record,) = risk_records(loaded)
    key = record["evidence"][0].split("/", 3)[3]
    bucket = FUNCTION_ENV["EVIDENCE_BUCKET"]
    s3 = loaded["s3"]
    assert s3.head_object(Bucket=bucket, Key=key)["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(s3.exceptions.ClientError, match="PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"another picture", IfNoneMatch="*")
    (version,) = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
    scored_at = datetime.fromisoformat(record["scored_at"].replace("Z", "+00:00"))
    assert abs(int(record["expires_at"]) - (scored_at + timedelta(days=400)).timestamp()) < 1


def test_an_account_with_no_trades_is_no_activity_and_nothing_is_written(loaded, endpoint):
    send(loaded, withdrawal("u-never-traded", "w-empty"))
    outcomes = drain(loaded)
    assert sum(o.succeeded for o in outcomes) == 1
    assert risk_records(loaded) == [] and evidence_keys(loaded) == []


def test_missing_market_data_is_retried_not_judged_clean(aws, endpoint, accounts, market):
    thief = next(a for a in accounts if a.label == "hacker")
    put_items(aws["dynamodb"], FUNCTION_ENV["TRADES_TABLE"], (t.to_item() for t in thief.trades))
    send(aws, withdrawal(thief.user_id, "w-early"))
    first = event_source(aws).poll_once()
    assert (first.received, first.failed) == (1, 1)
    assert risk_records(aws) == [] and queue_depths(aws) == (1, 0)
    # The klines arrive; the redelivery scores the withdrawal.
    put_items(
        aws["dynamodb"],
        FUNCTION_ENV["KLINES_TABLE"],
        (bar.to_item() for bars in market.values() for bar in bars),
    )
    time.sleep(1.1)
    drain(aws)
    assert [r["withdrawal_id"] for r in risk_records(aws)] == ["w-early"]


def test_endpoint_throttling_is_retried_then_redelivered_and_nothing_is_half_written(
    loaded, endpoint, accounts
):
    thief = next(a for a in accounts if a.label == "hacker")
    before = set_faults(endpoint, rate=1.0, code="ThrottlingException")
    send(loaded, withdrawal(thief.user_id, "w-throttled"))
    outcome = event_source(loaded).poll_once()
    stats = set_faults(endpoint, rate=0.0)
    assert (outcome.received, outcome.failed) == (1, 1)
    # botocore's standard mode made every attempt (total_max_attempts) of each symbol's call (the
    # symbols are scored side by side, so every call runs) before the record failed.
    attempts = client_config("sagemaker-runtime").retries["total_max_attempts"]
    assert stats["failed_injected"] - before["failed_injected"] == attempts * len(thief.symbols)
    assert risk_records(loaded) == [] and evidence_keys(loaded) == []
    time.sleep(1.1)
    drain(loaded)
    assert [r["withdrawal_id"] for r in risk_records(loaded)] == ["w-throttled"]


def test_a_fusing_endpoint_scores_image_and_round_trip_and_the_record_keeps_both(
    loaded, endpoint, accounts, model_dir, monkeypatch
):
    from scoring.settings import get_settings

    if not json.loads((model_dir / "metadata.json").read_text()).get("round_trip"):
        pytest.skip(f"{model_dir} carries no round-trip model")
    monkeypatch.setenv("ENDPOINT_FUSES", "true")
    get_settings.cache_clear()
    handler.collaborators.cache_clear()
    thief = next(a for a in accounts if a.label == "hacker" and a.variant == "classic")
    send(loaded, withdrawal(thief.user_id, "w-fused"))
    drain(loaded)
    (record,) = risk_records(loaded)
    assert record["detector"] == "chart+round-trip"
    assert set(record["components"]) == set(record["symbol_scores"]) == set(thief.symbols)
    for symbol, parts in record["components"].items():
        assert set(parts) == {"chart", "round_trip"}
        c, r = (min(max(float(parts[k]), 1e-6), 1 - 1e-6) for k in ("chart", "round_trip"))
        pooled = 1 / (1 + math.sqrt((1 - c) / c * (1 - r) / r))  # the mean of the two log-odds
        assert float(record["symbol_scores"][symbol]) == pytest.approx(pooled, abs=1e-9)

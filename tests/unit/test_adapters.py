"""The AWS adapters' translation of responses and errors, with botocore's in-process Stubber."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.config import Config
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from scoring.contracts import DETECTOR
from scoring.endpoint import SageMakerPredictor, hacker_probability_from_response
from scoring.errors import ConfigurationProblem, EndpointContractError, InvalidStoredRecord, RetryLater
from scoring.klines import UNPROCESSED_ATTEMPTS, KlinesTable
from scoring.risk import RiskFlag, RiskRecorder, risk_item
from scoring.trades import TradesTable

NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})
NOW = datetime(2025, 11, 16, 0, 0, tzinfo=timezone.utc)


def offline_client(service: str):
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x", config=NO_RETRY
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [(b"[0.93, 0.07]", 0.93), (b"[0, 1]", 0.0), (b"[1.0, 0.0]", 1.0)],
)
def test_endpoint_answer_is_hacker_probability_first(body, expected):
    assert hacker_probability_from_response(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"<html>",
        b'{"hacker": 0.9}',
        b"[0.9]",
        b"[0.9, 0.1, 0.0]",
        b"[1.5, -0.5]",
        b"[0.5, 0.2]",
        b'["a", "b"]',
        b"[NaN, 0.5]",
    ],
)
def test_an_answer_outside_contract_6_is_an_endpoint_contract_error(body):
    with pytest.raises(EndpointContractError):
        hacker_probability_from_response(body)


def test_predictor_sends_the_png_and_reads_the_probabilities():
    runtime = offline_client("sagemaker-runtime")
    with Stubber(runtime) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(b"[0.96, 0.04]"), 12), "ContentType": "application/json"},
            {"EndpointName": "ep", "ContentType": "image/png", "Accept": "application/json", "Body": b"png"},
        )
        assert SageMakerPredictor(runtime, "ep").hacker_probability(b"png") == 0.96


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, RetryLater),
        ("ServiceUnavailable", 503, RetryLater),
        ("ModelError", 424, RetryLater),
        ("ValidationError", 400, ConfigurationProblem),
    ],
)
def test_endpoint_failures_become_retry_or_configuration_problems(code, status, expected):
    runtime = offline_client("sagemaker-runtime")
    with Stubber(runtime) as stub:
        stub.add_client_error("invoke_endpoint", service_error_code=code, http_status_code=status)
        with pytest.raises(expected, match=code):
            SageMakerPredictor(runtime, "ep").hacker_probability(b"png")


def test_trades_query_follows_pages_and_reads_contract_2_items():
    dynamodb = offline_client("dynamodb")

    def item(n: int) -> dict:
        return {
            "user_id": {"S": "u"},
            "trade_key": {"S": f"2025-11-15T10:00:0{n}.000Z#t{n}"},
            "trade_id": {"S": f"t{n}"},
            "symbol": {"S": "BTC-USD"},
            "side": {"S": "BUY"},
            "price": {"N": "30000.5"},
            "quantity": {"N": "0.1"},
            "traded_at": {"S": f"2025-11-15T10:00:0{n}.000Z"},
        }

    with Stubber(dynamodb) as stub:
        stub.add_response(
            "query",
            {"Items": [item(1)], "LastEvaluatedKey": {"user_id": {"S": "u"}}},
            {
                **dict.fromkeys(
                    [
                        "TableName",
                        "KeyConditionExpression",
                        "ProjectionExpression",
                        "ExpressionAttributeNames",
                        "ExpressionAttributeValues",
                    ],
                    ANY,
                )
            },
        )
        stub.add_response(
            "query",
            {"Items": [item(2)]},
            {
                **dict.fromkeys(
                    [
                        "TableName",
                        "KeyConditionExpression",
                        "ProjectionExpression",
                        "ExpressionAttributeNames",
                        "ExpressionAttributeValues",
                        "ExclusiveStartKey",
                    ],
                    ANY,
                )
            },
        )
        trades = TradesTable(dynamodb, "trades").trades_in_window("u", NOW - timedelta(days=1), NOW)
    assert [t.trade_id for t in trades] == ["t1", "t2"]
    assert trades[0].price == 30000.5 and trades[0].traded_at.tzinfo is not None


def test_trades_query_fetches_what_a_trade_needs_but_the_account_it_names():
    dynamodb = offline_client("dynamodb")
    seen: dict = {}
    dynamodb.meta.events.register(
        "before-parameter-build.dynamodb.Query", lambda params, **_: seen.update(params)
    )
    item = {
        "trade_id": {"S": "t1"},
        "symbol": {"S": "BTC-USD"},
        "side": {"S": "BUY"},
        "price": {"N": "NaN"},
        "quantity": {"N": "1"},
        "traded_at": {"S": "2025-11-15T10:00:01.000Z"},
    }
    with Stubber(dynamodb) as stub:
        stub.add_response("query", {"Items": [item]})
        window = TradesTable(dynamodb, "trades").read_window("u", NOW - timedelta(days=1), NOW, 10)
    names = seen["ExpressionAttributeNames"]
    fetched = {names[ref.strip()] for ref in seen["ProjectionExpression"].split(",")}
    assert fetched == {"trade_id", "symbol", "side", "price", "quantity", "traded_at", "counterparty_user_id"}
    assert window.invalid == (
        "trade '2025-11-15T10:00:01.000Z#t1' of u breaks contract 2: price Decimal('NaN') is not a finite number",
    )


def test_a_stored_trade_that_breaks_contract_2_is_not_silently_skipped():
    dynamodb = offline_client("dynamodb")
    bad = {
        "user_id": {"S": "u"},
        "trade_key": {"S": "k"},
        "trade_id": {"S": "t"},
        "symbol": {"S": "X"},
        "side": {"S": "HOLD"},
        "price": {"N": "1"},
        "quantity": {"N": "1"},
        "traded_at": {"S": "2025-11-15T10:00:00.000Z"},
    }
    with Stubber(dynamodb) as stub:
        stub.add_response("query", {"Items": [bad]})
        with pytest.raises(InvalidStoredRecord, match="side must be BUY or SELL"):
            TradesTable(dynamodb, "trades").trades_in_window("u", NOW - timedelta(days=1), NOW)


def test_dynamodb_throttling_after_retries_is_retry_later():
    dynamodb = offline_client("dynamodb")
    with Stubber(dynamodb) as stub:
        stub.add_client_error(
            "query", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
        )
        with pytest.raises(RetryLater, match="ProvisionedThroughputExceeded"):
            TradesTable(dynamodb, "trades").trades_in_window("u", NOW - timedelta(days=1), NOW)


FLAG = RiskFlag(
    user_id="u/1",
    withdrawal_id="w 1",
    requested_at=NOW,
    scored_at=NOW + timedelta(seconds=2),
    score=0.975,
    threshold=0.9,
    symbol_scores={"ETH-USD": 0.2, "BTC-USD": 0.975},
    trade_count=7,
    window_start=NOW - timedelta(hours=24),
    window_end=NOW,
    endpoint="ep",
    render_version="chart-v1",
    asset="BTC",
    counterparties=("v2", "v1"),
)


def test_risk_item_has_every_contract_4_attribute():
    item = risk_item(FLAG, ["s3://b/k.png"])
    assert item["user_id"] == "u/1" and item["event_key"] == "2025-11-16T00:00:00.000Z#w 1"
    assert item["day"] == "2025-11-16" and item["status"] == "open" and item["detector"] == DETECTOR
    assert float(item["score"]) == 0.975 and float(item["threshold"]) == 0.9
    assert {k: float(v) for k, v in item["symbol_scores"].items()} == {"BTC-USD": 0.975, "ETH-USD": 0.2}
    assert (
        item["window_start"] == "2025-11-15T00:00:00.000Z"
        and item["window_end"] == "2025-11-16T00:00:00.000Z"
    )
    assert item["scored_at"] == "2025-11-16T00:00:02.000Z" and item["trade_count"] == 7
    assert (
        item["evidence"] == ["s3://b/k.png"]
        and item["render_version"] == "chart-v1"
        and item["endpoint"] == "ep"
    )
    assert item["counterparties"] == ["v1", "v2"] and "amount" not in item


def test_evidence_keys_hold_the_request_time_and_the_images_digest_and_are_safe():
    digest = hashlib.sha256(b"png").hexdigest()[:16]
    assert FLAG.evidence_key("BTC/USD", b"png") == (
        f"evidence/2025-11-16/u%2F1/w%201/2025-11-16T00%3A00%3A00.000Z/{digest}/BTC%2FUSD.png"
    )
    assert FLAG.evidence_key("BTC/USD", b"other png") != FLAG.evidence_key("BTC/USD", b"png")
    later = dataclasses.replace(FLAG, requested_at=NOW + timedelta(minutes=1))
    assert later.evidence_key("BTC/USD", b"png") != FLAG.evidence_key("BTC/USD", b"png")


LOOK_FOR_THE_RECORD = {
    "TableName": "risk",
    "KeyConditionExpression": "#pk = :pk",
    "FilterExpression": "#w = :w",
    "ProjectionExpression": "#sk",
    "ExpressionAttributeNames": {"#pk": "user_id", "#sk": "event_key", "#w": "withdrawal_id"},
    "ExpressionAttributeValues": {":pk": {"S": "u/1"}, ":w": {"S": "w 1"}},
}
PUT_EVIDENCE = {
    "Bucket": "b",
    "Key": ANY,
    "Body": b"png",
    "ContentType": "image/png",
    "ChecksumAlgorithm": "SHA256",
    "IfNoneMatch": "*",
    "Metadata": ANY,
}


def test_recorder_puts_evidence_once_then_a_conditional_record_with_its_expiry():
    dynamodb, s3 = offline_client("dynamodb"), offline_client("s3")
    recorder = RiskRecorder(dynamodb=dynamodb, s3=s3, table_name="risk", bucket="b", retention_days=30)
    with Stubber(dynamodb) as ddb_stub, Stubber(s3) as s3_stub:
        ddb_stub.add_response("query", {"Items": []}, LOOK_FOR_THE_RECORD)
        s3_stub.add_response("put_object", {}, PUT_EVIDENCE)
        ddb_stub.add_response(
            "put_item",
            {},
            {
                "TableName": "risk",
                "Item": ANY,
                "ConditionExpression": "attribute_not_exists(#sk)",
                "ExpressionAttributeNames": {"#sk": "event_key"},
            },
        )
        assert recorder.record(FLAG, {"BTC-USD": b"png"}) is True
        ddb_stub.assert_no_pending_responses()
    item = risk_item(FLAG, [], int((FLAG.scored_at + timedelta(days=30)).timestamp()))
    assert item["expires_at"] == int(FLAG.scored_at.timestamp()) + 30 * 86400
    assert "expires_at" not in risk_item(FLAG, [])


def test_a_withdrawal_with_a_record_gets_nothing_written_again():
    dynamodb, s3 = offline_client("dynamodb"), offline_client("s3")
    recorder = RiskRecorder(dynamodb=dynamodb, s3=s3, table_name="risk", bucket="b")
    with Stubber(dynamodb) as ddb_stub, Stubber(s3) as s3_stub:
        # The record is on the second page of the account's records (the filter applies per page).
        ddb_stub.add_response("query", {"Items": [], "LastEvaluatedKey": {"user_id": {"S": "u/1"}}})
        ddb_stub.add_response("query", {"Items": [{"event_key": {"S": "2025-11-15T23:59:00.000Z#w 1"}}]})
        assert recorder.record(FLAG, {"BTC-USD": b"png"}) is False
        s3_stub.assert_no_pending_responses()  # no put_object was expected, and none was made


def test_an_image_already_there_is_not_replaced_and_a_lost_race_is_a_duplicate():
    dynamodb, s3 = offline_client("dynamodb"), offline_client("s3")
    recorder = RiskRecorder(dynamodb=dynamodb, s3=s3, table_name="risk", bucket="b")
    with Stubber(dynamodb) as ddb_stub, Stubber(s3) as s3_stub:
        ddb_stub.add_response("query", {"Items": []})
        s3_stub.add_client_error("put_object", service_error_code="PreconditionFailed", http_status_code=412)
        ddb_stub.add_client_error(
            "put_item", service_error_code="ConditionalCheckFailedException", http_status_code=400
        )
        assert recorder.record(FLAG, {"BTC-USD": b"png"}) is False


def test_recorder_failure_to_write_is_retry_later():
    dynamodb, s3 = offline_client("dynamodb"), offline_client("s3")
    recorder = RiskRecorder(dynamodb=dynamodb, s3=s3, table_name="risk", bucket="b")
    with Stubber(dynamodb) as ddb_stub, Stubber(s3) as s3_stub:
        ddb_stub.add_response("query", {"Items": []})
        s3_stub.add_response("put_object", {})
        ddb_stub.add_client_error("put_item", service_error_code="ThrottlingException", http_status_code=400)
        with pytest.raises(RetryLater):
            recorder.record(FLAG, {"BTC-USD": b"png"})


def test_klines_query_fetches_only_what_the_chart_needs():
    dynamodb = offline_client("dynamodb")
    expected = {
        "TableName": "klines",
        "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
        "ProjectionExpression": "#sk, #high, #low",
        "ExpressionAttributeNames": {"#pk": "symbol", "#sk": "open_time", "#high": "high", "#low": "low"},
        "ExpressionAttributeValues": ANY,
    }
    with Stubber(dynamodb) as stub:
        stub.add_response(
            "query",
            {"Items": [{"open_time": {"N": "1763164800"}, "high": {"N": "101.5"}, "low": {"N": "99"}}]},
            expected,
        )
        (bar,) = KlinesTable(dynamodb, "klines").bars_in_window("BTC-USD", NOW - timedelta(days=1), NOW)
    assert (bar.symbol, bar.open_time, bar.high, bar.low) == ("BTC-USD", 1763164800, 101.5, 99.0)


def test_a_stored_kline_without_its_high_is_not_silently_skipped():
    dynamodb = offline_client("dynamodb")
    with Stubber(dynamodb) as stub:
        stub.add_response("query", {"Items": [{"open_time": {"N": "1763164800"}, "low": {"N": "99"}}]})
        with pytest.raises(InvalidStoredRecord, match="contract 3"):
            KlinesTable(dynamodb, "klines").bars_in_window("BTC-USD", NOW - timedelta(days=1), NOW)


def test_a_fusing_predictor_sends_the_json_variant_and_reads_both_parts():
    import base64
    import json

    from scoring.contracts import FUSED_DETECTOR

    runtime = offline_client("sagemaker-runtime")
    answer = b'{"probabilities": [0.94, 0.06], "components": {"chart": 0.9, "round_trip": 0.98}}'
    request = json.dumps(
        {"image": base64.b64encode(b"png").decode(), "round_trip": {"n_trades": 4.0}}
    ).encode()
    with Stubber(runtime) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(answer), len(answer)), "ContentType": "application/json"},
            {
                "EndpointName": "ep",
                "ContentType": "application/json",
                "Accept": "application/json",
                "Body": request,
            },
        )
        predictor = SageMakerPredictor(runtime, "ep", fuses=True)
        score = predictor.score(b"png", {"n_trades": 4.0})
    assert predictor.detector == FUSED_DETECTOR
    assert score.probability == 0.94 and score.components == {"chart": 0.9, "round_trip": 0.98}


def test_a_predictor_that_does_not_fuse_sends_the_bare_png():
    runtime = offline_client("sagemaker-runtime")
    with Stubber(runtime) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(b"[0.3, 0.7]"), 10), "ContentType": "application/json"},
            {"EndpointName": "ep", "ContentType": "image/png", "Accept": "application/json", "Body": b"png"},
        )
        score = SageMakerPredictor(runtime, "ep").score(b"png", {"n_trades": 4.0})
    assert score.probability == 0.3 and score.components is None


@pytest.mark.parametrize(
    "body",
    [
        b"[0.9, 0.1]",
        b'{"probabilities": [0.9, 0.1]}',
        b'{"probabilities": [0.9, 0.1], "components": {"chart": 0.9}}',
        b'{"probabilities": [0.9, 0.2], "components": {"chart": 0.9, "round_trip": 0.9}}',
        b'{"probabilities": [0.9, 0.1], "components": {"chart": 1.5, "round_trip": 0.9}}',
    ],
)
def test_a_fused_answer_outside_contract_6_is_an_endpoint_contract_error(body):
    from scoring.endpoint import fused_score_from_response

    with pytest.raises(EndpointContractError):
        fused_score_from_response(body)


def test_risk_item_carries_the_detector_and_each_models_part_when_the_endpoint_fuses():
    from dataclasses import replace

    from scoring.contracts import FUSED_DETECTOR

    item = risk_item(
        replace(FLAG, detector=FUSED_DETECTOR, components={"BTC-USD": {"chart": 0.96, "round_trip": 0.99}}),
        [],
    )
    assert item["detector"] == "chart+round-trip"
    assert {k: {n: float(p) for n, p in v.items()} for k, v in item["components"].items()} == {
        "BTC-USD": {"chart": 0.96, "round_trip": 0.99}
    }
    assert "components" not in risk_item(FLAG, [])


def test_the_newest_klines_of_several_symbols_come_in_one_batch_in_time_order(monkeypatch):
    monkeypatch.setattr("scoring.klines.time.sleep", lambda seconds: None)
    dynamodb = offline_client("dynamodb")

    def key(symbol: str, t: int) -> dict:
        return {"symbol": {"S": symbol}, "open_time": {"N": str(t)}}

    def bar(symbol: str, t: int) -> dict:
        return {**key(symbol, t), "high": {"N": "101.5"}, "low": {"N": "99"}}

    request = {
        "klines": {
            "Keys": [key("BTC-USD", 600), key("BTC-USD", 900), key("ETH-USD", 600)],
            "ProjectionExpression": "#pk, #sk, #high, #low",
            "ExpressionAttributeNames": {"#pk": "symbol", "#sk": "open_time", "#high": "high", "#low": "low"},
        }
    }
    unprocessed = {"klines": {**request["klines"], "Keys": [key("BTC-USD", 600)]}}
    with Stubber(dynamodb) as stub:
        stub.add_response(
            "batch_get_item",
            {"Responses": {"klines": [bar("BTC-USD", 900)]}, "UnprocessedKeys": unprocessed},
            {"RequestItems": request},
        )
        stub.add_response(
            "batch_get_item", {"Responses": {"klines": [bar("BTC-USD", 600)]}}, {"RequestItems": unprocessed}
        )
        found = KlinesTable(dynamodb, "klines").bars_at({"BTC-USD": [600, 900], "ETH-USD": [600]})
    assert {s: [b.open_time for b in bars] for s, bars in found.items()} == {
        "BTC-USD": [600, 900],
        "ETH-USD": [],
    }


def test_klines_left_unprocessed_after_the_retries_are_retry_later(monkeypatch):
    monkeypatch.setattr("scoring.klines.time.sleep", lambda seconds: None)
    dynamodb = offline_client("dynamodb")
    keys = {"Keys": [{"symbol": {"S": "BTC-USD"}, "open_time": {"N": "600"}}]}
    with Stubber(dynamodb) as stub:
        for _ in range(UNPROCESSED_ATTEMPTS + 1):
            stub.add_response("batch_get_item", {"Responses": {}, "UnprocessedKeys": {"klines": keys}})
        with pytest.raises(RetryLater, match="unprocessed"):
            KlinesTable(dynamodb, "klines").bars_at({"BTC-USD": [600]})

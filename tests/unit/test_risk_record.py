"""The risk item's round-trip evidence (contract 4): written for a flag that has it, absent otherwise."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from boto3.dynamodb.types import TypeSerializer

from scoring.risk import RiskFlag, risk_item

NOW = datetime(2025, 11, 16, 0, 0, tzinfo=timezone.utc)
FLAG = RiskFlag(
    user_id="u-1",
    withdrawal_id="w-1",
    requested_at=NOW,
    scored_at=NOW + timedelta(seconds=2),
    score=0.975,
    threshold=0.9,
    symbol_scores={"BTC-USD": 0.975},
    trade_count=2,
    window_start=NOW - timedelta(hours=24),
    window_end=NOW,
    endpoint="ep",
    render_version="chart-v1",
)


def test_round_trip_is_a_map_of_numbers_per_symbol_and_reasons_a_list_of_strings():
    flag = replace(
        FLAG,
        round_trip={"ETH-USD": {"n_trades": 1.0}, "BTC-USD": {"n_trades": 2.0, "mean_buy_position": 0.1}},
        reasons=("BTC-USD: 1 round trip.", "ETH-USD: no round trip."),
    )
    item = risk_item(flag, [])
    assert list(item["round_trip"]) == ["BTC-USD", "ETH-USD"]
    assert item["round_trip"]["BTC-USD"] == {"n_trades": Decimal("2.0"), "mean_buy_position": Decimal("0.1")}
    assert item["reasons"] == ["BTC-USD: 1 round trip.", "ETH-USD: no round trip."]
    serialized = TypeSerializer().serialize(item["round_trip"])
    assert serialized["M"]["BTC-USD"]["M"]["mean_buy_position"] == {"N": "0.1"}
    assert TypeSerializer().serialize(item["reasons"]) == {
        "L": [{"S": "BTC-USD: 1 round trip."}, {"S": "ETH-USD: no round trip."}]
    }


def test_a_flag_without_round_trip_evidence_writes_neither_attribute():
    item = risk_item(FLAG, [])
    assert "round_trip" not in item and "reasons" not in item

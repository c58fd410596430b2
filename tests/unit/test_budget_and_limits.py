"""The time budget, the caps per withdrawal, and stored trades that break contract 2 in a side field."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from botocore.config import Config

from scoring.decision import FLAGGED, Withdrawal, score_withdrawal
from scoring.errors import InvalidStoredRecord, OutOfTime, OverLimit
from scoring.limits import MAX_SYMBOLS_PER_WITHDRAWAL
from scoring.market import Kline, Trade, bar_open_time, counterparty_id
from scoring.time_budget import RESPONSE_RESERVE_SECONDS, TimeBudget, worst_case_seconds
from tests.unit.fakes import FakeKlines, FakePredictor, FakeRecorder, FakeTrades
from tests.unit.test_decision import END, MARKET, START, TRADES, trade

STEPS = {"query": 5.0, "endpoint": 10.0, "write": 8.0}


class Clock:
    """Remaining time that drops by `per_call_ms` whenever it is read."""

    def __init__(self, left_ms: int, per_call_ms: int = 0):
        self.left_ms, self.per_call_ms = left_ms, per_call_ms

    def __call__(self) -> int:
        left = self.left_ms
        self.left_ms -= self.per_call_ms
        return left


def run(budget, recorder=None, predictor=None, trades=TRADES, market=MARKET):
    return score_withdrawal(
        Withdrawal("u-1", "w-1", END),
        trades=FakeTrades(trades),
        klines=FakeKlines(market),
        predictor=predictor or FakePredictor(lambda png: 0.99),
        recorder=recorder or FakeRecorder(),
        threshold=0.9,
        window_hours=24,
        budget=budget,
    )


def test_worst_case_of_a_call_is_its_attempts_timeouts_and_backoff():
    config = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=1, read_timeout=8)
    assert worst_case_seconds(config) == 2 * (1 + 8) + 1.0
    three = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=1, read_timeout=3)
    assert worst_case_seconds(three) == 3 * 4 + 1.0 + 2.0


def test_with_time_enough_every_step_runs():
    recorder = FakeRecorder()
    assert run(TimeBudget(Clock(60_000), STEPS), recorder).outcome == FLAGGED
    assert len(recorder.flags) == 1


@pytest.mark.parametrize(
    ("left_s", "step", "endpoint_called"),
    [
        (STEPS["query"] + RESPONSE_RESERVE_SECONDS - 0.5, "query", False),
        (STEPS["endpoint"] + RESPONSE_RESERVE_SECONDS - 0.5, "endpoint", False),
        (STEPS["write"] + RESPONSE_RESERVE_SECONDS - 0.5, "write", True),
    ],
)
def test_a_step_that_may_not_finish_in_time_fails_the_withdrawal_before_it_starts(
    left_s, step, endpoint_called
):
    # The budget grants the steps before `step` (more time than they need) and not `step` itself.
    steps = {name: (seconds if name == step else 0.0) for name, seconds in STEPS.items()}
    predictor, recorder = FakePredictor(lambda png: 0.99), FakeRecorder()
    with pytest.raises(OutOfTime, match=f"{step} may take"):
        run(TimeBudget(Clock(int(left_s * 1000)), steps), recorder, predictor)
    assert bool(predictor.images) is endpoint_called
    assert recorder.flags == {}  # nothing half-written


def test_more_symbols_than_run_at_once_need_that_many_rounds_of_the_endpoint():
    budget = TimeBudget(Clock(int((2 * STEPS["endpoint"] + RESPONSE_RESERVE_SECONDS - 1) * 1000)), STEPS)
    budget.require("endpoint", rounds=1)
    with pytest.raises(OutOfTime):
        budget.require("endpoint", rounds=2)


def test_more_symbols_than_the_cap_are_held_for_review_not_scored():
    first = bar_open_time(START)
    symbols = [f"S{n:02d}-USD" for n in range(MAX_SYMBOLS_PER_WITHDRAWAL + 1)]
    market = {s: [Kline(s, first + i * 300, 10.0, 10.1, 9.9, 10.0) for i in range(289)] for s in symbols}
    trades = [trade(n, s, "BUY", 10.0, 60) for n, s in enumerate(symbols)]
    predictor = FakePredictor(lambda png: 0.99)
    with pytest.raises(OverLimit, match="held for review") as caught:
        run(None, predictor=predictor, trades=trades, market=market)
    assert caught.value.dead_letter_at_once and caught.value.reason == "over-limit"
    assert predictor.images == []
    # One symbol fewer is scored.
    assert run(None, trades=trades[:-1], market=market).outcome == FLAGGED


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ("v-1", "v-1"),
        ("  v-1 ", "v-1"),
        ("", None),
        (None, None),
        (Decimal("12345"), "12345"),
        (Decimal("1E+2"), "100"),
        (Decimal("1.5"), "1.5"),
        (7, "7"),
        (True, None),
        ({"id": "v-1"}, None),
        (["v-1"], None),
        (b"v-1", None),
    ],
)
def test_a_stored_counterparty_of_any_type_is_text_or_unknown_never_a_crash(stored, read):
    assert counterparty_id(stored) == read
    item = {
        **trade(1, "BTC-USD", "BUY", 30_000, 60).to_item(),
        "counterparty_user_id": stored,
    }
    assert Trade.from_item(item).counterparty_user_id == read


def test_an_account_whose_trade_has_a_numeric_counterparty_is_scored():
    item = {**trade(1, "BTC-USD", "BUY", 29_800, 600).to_item(), "counterparty_user_id": Decimal("42")}
    trades = [Trade.from_item(item), *TRADES[1:]]
    recorder = FakeRecorder()
    assert run(None, recorder, trades=trades).outcome == FLAGGED
    (flag,) = recorder.flags.values()
    assert "42" in flag.counterparties


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("symbol", "x" * 33, "symbol"),
        ("symbol", "../BTC", "symbol"),
        ("symbol", Decimal("1"), "symbol"),
        ("price", Decimal("NaN"), "price"),
        ("quantity", "Infinity", "quantity"),
    ],
)
def test_a_stored_trade_unfit_to_draw_or_key_is_refused_naming_the_field(field, value, problem):
    item = {**trade(1, "BTC-USD", "BUY", 30_000, 60).to_item(), field: value}
    with pytest.raises(ValueError, match=problem):
        Trade.from_item(item)


def test_a_stored_trade_that_breaks_contract_2_is_left_out_and_counted_not_blocking_the_account():
    trades, recorder = FakeTrades(TRADES), FakeRecorder()
    trades.invalid = ("trade '2025-11-15T13:00:00.000Z#t-9' of u-1 breaks contract 2: price 'NaN'",)
    verdict = score_withdrawal(
        Withdrawal("u-1", "w-1", END),
        trades=trades,
        klines=FakeKlines(MARKET),
        predictor=FakePredictor(lambda png: 0.99),
        recorder=recorder,
        threshold=0.9,
        window_hours=24,
    )
    assert verdict.outcome == FLAGGED and verdict.invalid_trades == trades.invalid
    (flag,) = recorder.flags.values()
    assert flag.invalid_trade_count == 1


def test_a_window_of_only_broken_trades_is_never_no_activity():
    trades = FakeTrades([])
    trades.invalid = ("trade 'x' of u-1 breaks contract 2: side must be BUY or SELL",)
    with pytest.raises(InvalidStoredRecord, match="all 1 trades of the window break contract 2"):
        score_withdrawal(
            Withdrawal("u-1", "w-1", END),
            trades=trades,
            klines=FakeKlines(MARKET),
            predictor=FakePredictor(lambda png: 0.99),
            recorder=FakeRecorder(),
            threshold=0.9,
            window_hours=24,
        )


def test_more_trades_than_the_cap_are_held_for_review(monkeypatch):
    import scoring.decision

    monkeypatch.setattr(scoring.decision, "MAX_TRADES_PER_WINDOW", 3)
    with pytest.raises(OverLimit, match="more than 3 trades"):
        run(None)  # TRADES holds 4 in the window


def stored(n: int, **change: dict) -> dict:
    item = {
        "user_id": {"S": "u"},
        "trade_key": {"S": f"2025-11-15T10:00:0{n}.000Z#t{n}"},
        "trade_id": {"S": f"t{n}"},
        "symbol": {"S": "BTC-USD"},
        "side": {"S": "BUY"},
        "price": {"N": "30000"},
        "quantity": {"N": "1"},
        "traded_at": {"S": f"2025-11-15T10:00:0{n}.000Z"},
    }
    return {**item, **change}


def test_the_decisions_read_notes_a_broken_stored_trade_and_keeps_the_rest():
    from botocore.stub import Stubber

    from scoring.trades import TradesTable
    from tests.unit.test_adapters import NOW, offline_client

    dynamodb = offline_client("dynamodb")
    items = [
        stored(1, counterparty_user_id={"N": "42"}),
        stored(2, side={"S": "HOLD"}),
        stored(3, counterparty_user_id={"M": {"id": {"S": "v"}}}),
    ]
    with Stubber(dynamodb) as stub:
        stub.add_response("query", {"Items": items})
        window = TradesTable(dynamodb, "trades").read_window("u", NOW - timedelta(days=1), NOW, limit=10)
    assert [t.trade_id for t in window.trades] == ["t1", "t3"] and not window.truncated
    assert [t.counterparty_user_id for t in window.trades] == ["42", None]
    (note,) = window.invalid
    assert "t2" in note and "side must be BUY or SELL" in note


def test_the_decisions_read_stops_at_the_cap():
    from botocore.stub import Stubber

    from scoring.trades import TradesTable
    from tests.unit.test_adapters import NOW, offline_client

    dynamodb = offline_client("dynamodb")
    with Stubber(dynamodb) as stub:
        stub.add_response("query", {"Items": [stored(n) for n in range(1, 5)]})
        window = TradesTable(dynamodb, "trades").read_window("u", NOW - timedelta(days=1), NOW, limit=3)
    assert len(window.trades) == 3 and window.truncated

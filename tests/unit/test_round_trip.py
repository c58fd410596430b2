"""Round-trip features: a bar's buy at its low and sell at its high."""

from __future__ import annotations

import pytest

from scoring.market import Kline, Trade, epoch_to_utc
from scoring.round_trip import FEATURE_NAMES, round_trip_features

T0 = 1_795_000_200  # a multiple of 300


def _bars(n: int = 20) -> list[Kline]:
    return [
        Kline("X", T0 + 300 * i, 100, 110 if i == 7 else 101, 99 if i != 7 else 90, 100) for i in range(n)
    ]


def _trade(k: int, side: str, price: float, bar: int, quantity: float = 1.0) -> Trade:
    return Trade("u", f"t{k}", "X", side, price, quantity, epoch_to_utc(T0 + 300 * bar + 10 + k))  # type: ignore[arg-type]


def test_a_buy_at_the_low_and_a_sell_at_the_high_of_the_widest_bar():
    features = dict(
        zip(FEATURE_NAMES, round_trip_features(_bars(), [_trade(0, "BUY", 90, 7), _trade(1, "SELL", 110, 7)]))
    )
    assert features["n_trades"] == 2 and features["round_trip_bars"] == 1
    assert features["mean_buy_position"] == pytest.approx(0.0)
    assert features["mean_sell_position"] == pytest.approx(1.0)
    assert features["mean_round_trip_spread"] == pytest.approx(1.0) and features["wide_round_trips"] == 1
    assert features["top10_trade_fraction"] == 1.0 and features["mean_amplitude_rank"] == 0.0


def test_a_single_market_fill_has_no_round_trip():
    features = dict(zip(FEATURE_NAMES, round_trip_features(_bars(), [_trade(0, "SELL", 100.5, 3)])))
    assert features["round_trip_bars"] == 0 and features["mean_round_trip_spread"] == 0.0
    assert features["buy_fraction"] == 0.0


def test_small_trades_in_a_round_trips_bar_do_not_hide_it_by_value():
    """A thief's round trip (1,000 units) with a small buy at the bar's high beside it (1 unit):
    the plain mean spread halves, the value-weighted one stays wide."""
    trades = [
        _trade(0, "BUY", 90, 7, 1000),
        _trade(1, "SELL", 110, 7, 1000),
        _trade(2, "BUY", 110, 7, 1),
        _trade(3, "SELL", 100, 3, 1),
    ]
    features = dict(zip(FEATURE_NAMES, round_trip_features(_bars(), trades)))
    assert features["mean_round_trip_spread"] == pytest.approx(0.5) and features["wide_round_trips"] == 0
    assert features["value_round_trip_spread"] == pytest.approx(1 - 110 / 90_110)
    assert features["value_wide_round_trips"] == 1
    moved = (90_000 + 110_000 + 110) / (90_000 + 110_000 + 110 + 100)
    assert features["wide_round_trip_value_fraction"] == pytest.approx(moved)


def test_without_a_round_trip_the_value_features_are_zero():
    features = dict(zip(FEATURE_NAMES, round_trip_features(_bars(), [_trade(0, "SELL", 100.5, 3)])))
    assert features["value_round_trip_spread"] == 0.0 and features["value_wide_round_trips"] == 0.0
    assert features["wide_round_trip_value_fraction"] == 0.0

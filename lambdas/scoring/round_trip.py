"""Round-trip features of one symbol's trades: where each fill sits inside its own bar's range.

Computed from the same inputs as a chart (one symbol's window bars and the account's trades in
it). The function computes them for every account it scores; training uses them as the tabular
baseline the image model must beat, so both read the same numbers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from scoring.market import BarLike, Trade, bar_open_time

FEATURE_NAMES = (
    "n_trades",
    "buy_fraction",
    "n_bars",
    "trades_per_bar",
    "round_trip_bars",
    "round_trip_bar_fraction",
    "mean_buy_position",
    "mean_sell_position",
    "mean_round_trip_spread",
    "min_round_trip_spread",
    "wide_round_trips",
    "top10_trade_fraction",
    "mean_amplitude_rank",
    "window_max_amplitude",
    # The same round trips with each fill weighted by its value (price x quantity): a thief's
    # round trips move the money, and small trades around them (decoys) barely count.
    "value_round_trip_spread",
    "wide_round_trip_value_fraction",
    "value_wide_round_trips",
)
WIDE_SPREAD = 0.6  # a wide round trip sold more than 60% of the bar's range above its buy


def round_trip_features(bars: Sequence[BarLike], trades: Sequence[Trade]) -> list[float]:
    """`FEATURE_NAMES` for one symbol's chart. Position = (price - low) / (high - low) in the bar.

    A round-trip bar holds both a buy and a sell of the account; its spread is the mean sell
    position minus the mean buy position (1.0: bought at the low, sold at the high). The `value_`
    features take the means weighted by each fill's value, and weigh each bar by its value.
    """
    index_of = {bar.open_time: i for i, bar in enumerate(bars)}
    # Kline.amplitude, from the high and low alone: the function reads no more of a kline.
    amplitude = np.array([(b.high - b.low) / b.low if b.low > 0 else 0.0 for b in bars])
    rank = np.empty(len(bars))
    rank[np.argsort(-amplitude, kind="stable")] = np.arange(len(bars)) / max(1, len(bars) - 1)
    top10 = set(np.argsort(-amplitude, kind="stable")[:10].tolist())
    # per bar and side: each fill's (position, value)
    per_bar: dict[int, dict[str, list[tuple[float, float]]]] = {}
    for trade in trades:
        i = index_of[bar_open_time(trade.traded_at)]
        bar = bars[i]
        span = bar.high - bar.low
        position = (trade.price - bar.low) / span if span > 0 else 0.5
        fill = (position, abs(trade.price * trade.quantity))
        per_bar.setdefault(i, {"BUY": [], "SELL": []})[trade.side].append(fill)
    buys = [p for sides in per_bar.values() for p, _ in sides["BUY"]]
    sells = [p for sides in per_bar.values() for p, _ in sides["SELL"]]
    round_trips = [s for s in per_bar.values() if s["BUY"] and s["SELL"]]
    spreads = [
        float(np.mean([p for p, _ in s["SELL"]]) - np.mean([p for p, _ in s["BUY"]])) for s in round_trips
    ]
    # (value-weighted spread, the bar's value) of each round-trip bar whose fills carry value
    value_spreads = [
        (_value_mean(s["SELL"]) - _value_mean(s["BUY"]), _value(s["SELL"]) + _value(s["BUY"]))
        for s in round_trips
        if _value(s["BUY"]) > 0 and _value(s["SELL"]) > 0
    ]
    round_trip_value = sum(v for _, v in value_spreads)
    wide_value = sum(v for spread, v in value_spreads if spread > WIDE_SPREAD)
    total_value = sum(abs(t.price * t.quantity) for t in trades)
    n = len(trades)
    return [
        float(n),
        len(buys) / n if n else 0.0,
        float(len(per_bar)),
        n / max(1, len(per_bar)),
        float(len(spreads)),
        len(spreads) / max(1, len(per_bar)),
        float(np.mean(buys)) if buys else 0.5,
        float(np.mean(sells)) if sells else 0.5,
        float(np.mean(spreads)) if spreads else 0.0,
        float(np.min(spreads)) if spreads else 0.0,
        float(sum(1 for s in spreads if s > WIDE_SPREAD)),
        sum(len(s["BUY"]) + len(s["SELL"]) for i, s in per_bar.items() if i in top10) / n if n else 0.0,
        float(np.mean([rank[i] for i in per_bar])) if per_bar else 1.0,
        float(amplitude.max()) if len(amplitude) else 0.0,
        sum(spread * v for spread, v in value_spreads) / round_trip_value if round_trip_value > 0 else 0.0,
        wide_value / total_value if total_value > 0 else 0.0,
        float(sum(1 for spread, _ in value_spreads if spread > WIDE_SPREAD)),
    ]


def _value(fills: Sequence[tuple[float, float]]) -> float:
    return sum(v for _, v in fills)


def _value_mean(fills: Sequence[tuple[float, float]]) -> float:
    """The fills' mean position, each weighted by its value."""
    return sum(v * p for p, v in fills) / _value(fills)


def named_round_trip_features(bars: Sequence[BarLike], trades: Sequence[Trade]) -> dict[str, float]:
    """`round_trip_features` by name: what a risk record's `round_trip` holds for one symbol."""
    return dict(zip(FEATURE_NAMES, round_trip_features(bars, trades)))

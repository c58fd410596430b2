"""The reasons a risk record gives in plain words: one sentence per symbol from its round-trip
features (`scoring.round_trip`), the symbol that decided the score first.

A pure function of numbers already computed: no reads, no model. The sentences say what the
features measured (where the account's fills sat inside their own 5-minute bars, and whether
they sat in the window's most volatile bars), never a verdict; the score is the model's.
"""

from __future__ import annotations

from typing import Mapping, Optional

# More symbols than this get one closing sentence instead of one each: the record keeps every
# symbol's features, the reasons are what an analyst reads first.
MAX_SYMBOL_SENTENCES = 5
TOP_BARS = 10  # scoring.round_trip's top10_trade_fraction: the window's 10 most volatile bars


def _count(n: float, one: str, many: str) -> str:
    whole = round(n)
    return f"{whole} {one if whole == 1 else many}"


def _percent(fraction: float) -> str:
    return f"{round(100 * fraction):.0f}%"


def _positions(features: Mapping[str, float]) -> str:
    """Where its buys and its sells sat inside their bars (0% the bar's low, 100% its high)."""
    trades = features.get("n_trades", 0.0)
    buys = round(trades * features.get("buy_fraction", 0.0))
    buy = f"{_percent(features.get('mean_buy_position', 0.5))} of the bar's range"
    sell = _percent(features.get("mean_sell_position", 0.5))
    if buys and buys < trades:
        return f"bought at {buy} on average, sold at {sell}"
    if buys:
        return f"bought at {buy} on average, no sells"
    return f"sold at {sell} of the bar's range on average, no buys"


def symbol_reason(symbol: str, features: Mapping[str, float]) -> str:
    """One sentence about one symbol's trades, e.g. "BTC-USD: 4 round trips (all wide) inside the
    window's 10 most volatile bars; bought at 6% of the bar's range on average, sold at 94%; 97%
    of the traded value in wide round trips (value-weighted)." """
    trades = features.get("n_trades", 0.0)
    if trades < 1:
        return f"{symbol}: no trades in the window."
    round_trips = features.get("round_trip_bars", 0.0)
    wide = features.get("wide_round_trips", 0.0)
    in_top = features.get("top10_trade_fraction", 0.0)
    if round_trips >= 1:
        what = _count(round_trips, "round trip", "round trips")
        if wide >= 1:  # wide: sold more than 60% of the bar's range above the buy (docs/analyst.md)
            what += (
                " (wide)"
                if round_trips < 2
                else " (all wide)"
                if wide >= round_trips
                else f" ({wide:.0f} wide)"
            )
    else:
        what = (
            f"no round trip in {_count(trades, 'trade', 'trades')}"
            f" (never a buy and a sell in the same 5-minute bar)"
        )
    if in_top >= 1 and round_trips >= 1:
        where = f" inside the window's {TOP_BARS} most volatile bars"
    elif in_top >= 1:
        where = f", {'all ' if trades >= 2 else ''}in the window's {TOP_BARS} most volatile bars"
    elif in_top > 0:
        where = f", {_percent(in_top)} of the trades in the window's {TOP_BARS} most volatile bars"
    else:
        where = f", none in the window's {TOP_BARS} most volatile bars"
    # wide by value-weighted positions, so small trades around a round trip do not hide it
    value = features.get("wide_round_trip_value_fraction", 0.0)
    moved = (
        f"; {_percent(value)} of the traded value in wide round trips (value-weighted)"
        if round(100 * value) >= 1
        else ""
    )
    return f"{symbol}: {what}{where}; {_positions(features)}{moved}."


def reasons(
    round_trip: Mapping[str, Mapping[str, float]],
    symbol_scores: Optional[Mapping[str, float]] = None,
) -> list[str]:
    """The record's reasons: a sentence per symbol, highest score first (then the most round
    trips), at most MAX_SYMBOL_SENTENCES of them and one sentence for the rest."""
    scores = symbol_scores or {}

    def strength(symbol: str) -> tuple[float, float, float, str]:
        features = round_trip[symbol]
        return (
            -scores.get(symbol, 0.0),
            -features.get("wide_round_trips", 0.0),
            -features.get("round_trip_bars", 0.0),
            symbol,
        )

    ordered = sorted(round_trip, key=strength)
    sentences = [symbol_reason(symbol, round_trip[symbol]) for symbol in ordered[:MAX_SYMBOL_SENTENCES]]
    rest = ordered[MAX_SYMBOL_SENTENCES:]
    if rest:
        trips = sum(round_trip[s].get("round_trip_bars", 0.0) for s in rest)
        sentences.append(
            f"{_count(len(rest), 'more symbol', 'more symbols')} with"
            f" {_count(trips, 'round trip', 'round trips')} between them; every symbol's"
            " features are in the record's round_trip."
        )
    return sentences

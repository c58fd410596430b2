"""The reasons' sentences, from hand-made round-trip features."""

from __future__ import annotations

from scoring.reasons import MAX_SYMBOL_SENTENCES, reasons, symbol_reason
from scoring.round_trip import FEATURE_NAMES


def features(**given: float) -> dict[str, float]:
    """A full feature map: an account with no round trip unless told otherwise."""
    base = dict.fromkeys(FEATURE_NAMES, 0.0)
    base.update(mean_buy_position=0.5, mean_sell_position=0.5, mean_amplitude_rank=1.0)
    base.update(given)
    return base


THIEF = features(
    n_trades=8,
    buy_fraction=0.5,
    n_bars=4,
    round_trip_bars=4,
    round_trip_bar_fraction=1.0,
    mean_buy_position=0.06,
    mean_sell_position=0.94,
    mean_round_trip_spread=0.88,
    wide_round_trips=4,
    top10_trade_fraction=1.0,
)


def test_a_thiefs_round_trips_in_the_most_volatile_bars():
    assert symbol_reason("BTC-USD", THIEF) == (
        "BTC-USD: 4 round trips (all wide) inside the window's 10 most volatile bars;"
        " bought at 6% of the bar's range on average, sold at 94%."
    )


def test_some_round_trips_wide_and_some_trades_elsewhere():
    mixed = dict(THIEF, round_trip_bars=3, wide_round_trips=1, top10_trade_fraction=0.25, n_trades=20)
    assert symbol_reason("ETH-USD", mixed) == (
        "ETH-USD: 3 round trips (1 wide), 25% of the trades in the window's 10 most volatile bars;"
        " bought at 6% of the bar's range on average, sold at 94%."
    )


def test_one_round_trip_is_singular():
    one = dict(THIEF, round_trip_bars=1, wide_round_trips=1, n_trades=2)
    assert symbol_reason("SOL-USD", one).startswith(
        "SOL-USD: 1 round trip (wide) inside the window's 10 most volatile bars;"
    )


def test_an_account_without_round_trips_says_so_and_where_it_traded():
    buyer = features(n_trades=3, buy_fraction=1.0, n_bars=3, mean_buy_position=0.42)
    assert symbol_reason("BTC-USD", buyer) == (
        "BTC-USD: no round trip in 3 trades (never a buy and a sell in the same 5-minute bar),"
        " none in the window's 10 most volatile bars; bought at 42% of the bar's range on average, no sells."
    )
    seller = features(
        n_trades=1, buy_fraction=0.0, n_bars=1, mean_sell_position=0.7, top10_trade_fraction=1.0
    )
    assert symbol_reason("X", seller) == (
        "X: no round trip in 1 trade (never a buy and a sell in the same 5-minute bar),"
        " in the window's 10 most volatile bars; sold at 70% of the bar's range on average, no buys."
    )


def test_a_victims_mirror_pattern_reads_as_bought_high_sold_low():
    victim = dict(THIEF, mean_buy_position=0.95, mean_sell_position=0.03, wide_round_trips=0)
    sentence = symbol_reason("BTC-USD", victim)
    assert "wide" not in sentence
    assert sentence.endswith("bought at 95% of the bar's range on average, sold at 3%.")


def test_a_multi_symbol_account_leads_with_its_highest_score():
    calm = features(n_trades=2, buy_fraction=0.5, n_bars=2, top10_trade_fraction=0.5)
    given = {"AAA-USD": calm, "BTC-USD": THIEF}
    assert [s.split(":")[0] for s in reasons(given, {"AAA-USD": 0.2, "BTC-USD": 0.99})] == [
        "BTC-USD",
        "AAA-USD",
    ]
    assert [s.split(":")[0] for s in reasons(given, {"AAA-USD": 0.99, "BTC-USD": 0.2})] == [
        "AAA-USD",
        "BTC-USD",
    ]
    # Without scores, the most wide round trips first.
    assert [s.split(":")[0] for s in reasons(given)] == ["BTC-USD", "AAA-USD"]


def test_many_symbols_end_in_one_sentence_for_the_rest():
    given = {f"S{n:02d}": dict(THIEF, round_trip_bars=n, wide_round_trips=n) for n in range(1, 9)}
    sentences = reasons(given)
    assert len(sentences) == MAX_SYMBOL_SENTENCES + 1
    assert [s.split(":")[0] for s in sentences[:MAX_SYMBOL_SENTENCES]] == ["S08", "S07", "S06", "S05", "S04"]
    assert sentences[-1] == (
        "3 more symbols with 6 round trips between them; every symbol's features are in the record's round_trip."
    )


def test_no_symbols_no_reasons():
    assert reasons({}) == []


def test_the_share_of_value_moved_in_wide_round_trips_is_said_when_there_is_one():
    assert symbol_reason("BTC-USD", dict(THIEF, wide_round_trip_value_fraction=0.004)).endswith(
        "sold at 94%."
    )
    moved = dict(THIEF, wide_round_trip_value_fraction=0.973)
    assert symbol_reason("BTC-USD", moved).endswith(
        "bought at 6% of the bar's range on average, sold at 94%; 97% of the traded value in wide round trips (value-weighted)."
    )

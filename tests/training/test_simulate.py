"""Simulated accounts: inside the window and the bars, reproducible, and free of the sample's leak."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from scoring.chart import render_chart
from scoring.market import bar_open_time
from training.market_data import synthetic_klines
from training.simulate import (
    HACKER_VARIANTS,
    NORMAL_VARIANTS,
    account_charts,
    simulate_accounts,
    window_bars,
)

MARKET_END = datetime(2026, 11, 1, tzinfo=timezone.utc)
WINDOW_END = MARKET_END - timedelta(hours=30, minutes=7, seconds=13)


@pytest.fixture(scope="module")
def klines():
    market = synthetic_klines(["BTC-USD", "ETH-USD", "SOL-USD"], MARKET_END, 6, seed=5)
    market.update(synthetic_klines(["COIN", "TSLA"], MARKET_END, 6, seed=6, session="stock"))
    return market


@pytest.fixture(scope="module")
def accounts(klines):
    return simulate_accounts(klines, 60, 60, seed=11, window_end=WINDOW_END)


def test_every_trade_is_in_the_window_and_in_a_known_bar(klines, accounts):
    start = WINDOW_END - timedelta(hours=24)
    for account in accounts:
        assert account.trades, account
        for trade in account.trades:
            assert start <= trade.traded_at < WINDOW_END
            bars = {b.open_time: b for b in window_bars(klines[trade.symbol], WINDOW_END)}
            bar = bars[bar_open_time(trade.traded_at)]
            assert bar.low - 1e-6 <= trade.price <= bar.high + 1e-6
            assert trade.user_id == account.user_id and trade.quantity > 0


def test_ids_are_unique_and_labels_and_variants_cover_the_issue(accounts):
    trade_ids = [t.trade_id for a in accounts for t in a.trades]
    assert len(trade_ids) == len(set(trade_ids))
    assert len({a.user_id for a in accounts}) == len(accounts)
    variants = Counter((a.label, a.variant) for a in accounts)
    assert {v for (label, v) in variants if label == "hacker"} == set(HACKER_VARIANTS)
    assert {v for (label, v) in variants if label == "normal"} == set(NORMAL_VARIANTS)


def test_same_seed_same_accounts(klines, accounts):
    again = simulate_accounts(klines, 60, 60, seed=11, window_end=WINDOW_END)
    assert [(a.user_id, a.trades) for a in again] == [(a.user_id, a.trades) for a in accounts]
    other = simulate_accounts(klines, 60, 60, seed=12, window_end=WINDOW_END)
    assert {a.user_id for a in other}.isdisjoint({a.user_id for a in accounts})


def test_thieves_trade_1_to_3_symbols_against_their_victims(accounts):
    for account in accounts:
        if account.label == "hacker":
            assert 1 <= len(account.symbols) <= 3
            assert account.victims
            theft = [t for t in account.trades if t.counterparty_user_id]
            assert {t.counterparty_user_id for t in theft} <= set(account.victims)
            assert {"BUY", "SELL"} <= {t.side for t in theft}


def test_dot_counts_do_not_give_the_class_away(klines, accounts):
    """The sample's leak: normal charts always had 2 dots, hacker charts 4-16. Here no threshold on
    a chart's dot count separates the classes (best single-threshold accuracy stays low)."""
    counts = {"hacker": [], "normal": []}
    for account in accounts:
        for _, _, trades in account_charts(account, klines):
            counts[account.label].append(len(trades))
    hacker, normal = np.array(counts["hacker"]), np.array(counts["normal"])
    assert np.mean(normal >= 4) > 0.6, "most normal charts have as many dots as a thief's"
    assert np.median(normal) >= np.min(hacker)
    best = max(
        (np.sum(hacker >= t) + np.sum(normal < t)) / (len(hacker) + len(normal))
        for t in range(1, int(max(hacker.max(), normal.max())) + 2)
    )
    assert best < 0.8, f"a dot-count threshold separates the classes with accuracy {best:.2f}"


def test_both_classes_have_buys_and_sells_and_normals_trade_the_wide_bars(klines, accounts):
    normal_round_trip_bars = 0
    for account in accounts:
        if account.label != "normal" or account.variant != "volatile_bars":
            continue
        for trade_bars in [
            {bar_open_time(t.traded_at) for t in account.trades if t.side == s} for s in ("BUY",)
        ]:
            sells = {bar_open_time(t.traded_at) for t in account.trades if t.side == "SELL"}
            normal_round_trip_bars += len(trade_bars & sells)
    assert normal_round_trip_bars > 0, "ordinary accounts also buy and sell inside one wide bar"


def test_charts_render_for_every_account(klines, accounts):
    for account in accounts[:20]:
        for symbol, bars, trades in account_charts(account, klines):
            assert render_chart(bars, trades).startswith(b"\x89PNG")
            assert all(t.symbol == symbol for t in trades)


def test_no_usable_symbol_is_an_error(klines):
    weekend = datetime(2026, 10, 26, 0, 0, tzinfo=timezone.utc)  # Sunday midnight: no stock bars
    with pytest.raises(ValueError, match="no symbol"):
        simulate_accounts({"COIN": klines["COIN"]}, 1, 1, seed=1, window_end=weekend)


def _places(account, klines, side):
    """Each fill's position inside its own bar's range, per bar: {open_time: [place, ...]}."""
    bars = {(s, b.open_time): b for s in account.symbols for b in window_bars(klines[s], WINDOW_END)}
    out: dict[tuple[str, int], list[float]] = {}
    for t in account.trades:
        if t.side == side:
            bar = bars[(t.symbol, bar_open_time(t.traded_at))]
            out.setdefault((t.symbol, bar.open_time), []).append((t.price - bar.low) / (bar.high - bar.low))
    return out


def _of(accounts, variant):
    found = [a for a in accounts if a.variant == variant]
    assert len(found) >= 5, variant
    return found


def test_outer_third_thieves_fill_anywhere_in_the_outer_third_of_the_bar(klines, accounts):
    buys, sells = [], []
    for account in _of(accounts, "outer_third"):
        buys += [p for ps in _places(account, klines, "BUY").values() for p in ps]
        sells += [p for ps in _places(account, klines, "SELL").values() for p in ps]
    assert max(buys) <= 1 / 3 + 1e-6 and min(sells) >= 2 / 3 - 1e-6
    assert max(buys) > 0.2 and min(sells) < 0.8, "fills spread over the third, not only the extremes"


def test_market_makers_quote_both_sides_of_one_bar_around_its_middle(klines, accounts):
    for account in _of(accounts, "market_maker"):
        buys, sells = _places(account, klines, "BUY"), _places(account, klines, "SELL")
        assert set(buys) == set(sells), "every bar quoted holds a buy and a sell"
        assert all(0.25 <= p <= 0.5 for ps in buys.values() for p in ps)
        assert all(0.5 <= p <= 0.75 for ps in sells.values() for p in ps)


def test_swing_traders_buy_dips_and_sell_rallies_in_other_bars(klines, accounts):
    for account in _of(accounts, "swing"):
        buys, sells = _places(account, klines, "BUY"), _places(account, klines, "SELL")
        assert not set(buys) & set(sells), "a swing trader never round-trips inside one bar"
        assert all(p <= 0.3 + 1e-6 for ps in buys.values() for p in ps)
        assert all(p >= 0.7 - 1e-6 for ps in sells.values() for p in ps)


def test_victims_buy_high_and_sell_low_inside_the_widest_bars(klines, accounts):
    from training.simulate import _widest_bars

    for account in _of(accounts, "victim"):
        assert account.label == "normal" and not account.victims
        buys, sells = _places(account, klines, "BUY"), _places(account, klines, "SELL")
        assert set(buys) == set(sells)
        assert all(p >= 2 / 3 - 1e-6 for ps in buys.values() for p in ps)
        assert all(p <= 1 / 3 + 1e-6 for ps in sells.values() for p in ps)
        for symbol in account.symbols:
            bars = window_bars(klines[symbol], WINDOW_END)
            widest = {bars[i].open_time for i in _widest_bars(bars, 10)}
            assert {t for s, t in buys if s == symbol} <= widest

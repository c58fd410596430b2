"""Inputs shared by the benchmarks: a deterministic day of 5-minute bars and an account's trades."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from scoring.market import Kline, Trade, bar_open_time, epoch_to_utc

END = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def sample_day(
    seed: int,
    n_trades: int = 20,
    symbols: tuple[str, ...] = ("BTC-USD", "ETH-USD"),
    end: datetime = END,
    extra_bars: int = 0,
):
    """288 bars per symbol ending at `end` (plus `extra_bars` after it) and `n_trades` trades in
    the first 288, spread over the symbols."""
    rng = np.random.default_rng(seed)
    first = bar_open_time(end - timedelta(hours=24))
    bars: dict[str, list[Kline]] = {}
    for n, symbol in enumerate(symbols):
        price = 30_000.0 / (n + 1)
        day = []
        for i in range(288 + extra_bars):
            move = rng.normal(0, 0.002)
            high = price * (1 + abs(rng.normal(0, 0.003)))
            low = price * (1 - abs(rng.normal(0, 0.003)))
            day.append(Kline(symbol, first + i * 300, price, high, low, price * (1 + move), 1.0))
            price *= 1 + move
        bars[symbol] = day
    trades = []
    for k in range(n_trades):
        symbol = symbols[k % len(symbols)]
        bar = bars[symbol][int(rng.integers(0, 288))]
        side = "BUY" if k % 2 == 0 else "SELL"
        price = float(rng.uniform(bar.low, bar.high))
        at = epoch_to_utc(bar.open_time + float(rng.uniform(0, 299)))
        trades.append(Trade("u-bench", f"t-{seed}-{k}", symbol, side, price, 0.1, at))  # type: ignore[arg-type]
    return bars, sorted(trades, key=lambda t: t.traded_at)


def sample_cases(count: int = 10, symbol: str = "BTC-USD") -> list[tuple[list[Kline], list[Trade]]]:
    """`count` one-symbol charts' inputs: 288 bars and 10, 12, ... trades of `symbol` each."""
    cases = []
    for seed in range(count):
        bars, trades = sample_day(seed=seed, n_trades=10 + seed * 2)
        cases.append((bars[symbol], [t for t in trades if t.symbol == symbol]))
    return cases

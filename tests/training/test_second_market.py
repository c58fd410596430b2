"""The second market: seeded, sessions with gaps, heavy tails, and tradable by the simulator."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from training.market_data import synthetic_klines
from training.second_market import BARS_PER_SESSION, SESSIONS_UTC, second_market_klines
from training.simulate import simulate_accounts

END = datetime(2026, 11, 1, tzinfo=timezone.utc)
SYMBOLS = ("SM-A", "SM-B", "SM-C")


def _returns(bars) -> np.ndarray:
    closes = np.array([b.close for b in bars])
    return np.diff(np.log(closes))


def _tail_fraction(bars, sigmas: float = 5.0) -> float:
    """Share of returns beyond `sigmas` times the std of the 48 returns around them (the local
    volatility), so clustering alone does not count as a heavy tail."""
    r = _returns(bars)
    z = [r[i] / np.concatenate([r[i - 24 : i], r[i + 1 : i + 25]]).std() for i in range(24, len(r) - 24)]
    return float(np.mean(np.abs(np.array(z)) > sigmas))


def test_same_seed_same_bars_and_another_seed_other_bars():
    first = second_market_klines(SYMBOLS, END, 10, seed=3)
    assert first == second_market_klines(SYMBOLS, END, 10, seed=3)
    assert first["SM-A"] != second_market_klines(SYMBOLS, END, 10, seed=4)["SM-A"]


def test_bars_are_valid_and_trade_two_weekday_sessions_with_a_break_and_halts():
    market = second_market_klines(SYMBOLS, END, 20, seed=3)
    starts = {h * 3600 + m * 60 for h, m in SESSIONS_UTC}
    halted_sessions = 0
    for bars in market.values():
        assert all(b.low <= min(b.open, b.close) and max(b.open, b.close) <= b.high for b in bars)
        assert [b.open_time for b in bars] == sorted({b.open_time for b in bars})
        per_session: dict[tuple[int, int], int] = {}
        for bar in bars:
            moment = datetime.fromtimestamp(bar.open_time, tz=timezone.utc)
            assert moment.weekday() < 5, "no weekend bars"
            offset = bar.open_time % 86_400
            session = max(s for s in starts if s <= offset)
            assert offset - session < BARS_PER_SESSION * 300, "no bar in the midday break"
            key = (bar.open_time // 86_400, session)
            per_session[key] = per_session.get(key, 0) + 1
        halted_sessions += sum(1 for n in per_session.values() if n < BARS_PER_SESSION)
    assert halted_sessions > 0, "some sessions have trading halts"


def test_returns_have_heavier_tails_than_the_training_market():
    second = np.mean([_tail_fraction(b) for b in second_market_klines(SYMBOLS, END, 40, seed=3).values()])
    first = np.mean([_tail_fraction(b) for b in synthetic_klines(SYMBOLS, END, 40, seed=3).values()])
    assert second > 5 * first


def test_the_simulator_trades_it():
    market = second_market_klines(SYMBOLS, END, 10, seed=3)
    window_end = datetime(2026, 10, 29, 9, 0, tzinfo=timezone.utc)  # a Thursday after both sessions
    accounts = simulate_accounts(market, 12, 16, seed=1, window_end=window_end)
    assert len(accounts) == 28
    start = window_end - timedelta(hours=24)
    assert all(start <= t.traded_at < window_end for a in accounts for t in a.trades)

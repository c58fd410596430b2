"""A second market, unlike `market_data.synthetic_klines`, for a held-out set only.

A model tuned on one generator can learn that generator's quirks; this one shares none of its
choices, so a held-out set built on it measures how the picture carries to a market training
never saw:
- volatility clusters (GARCH(1, 1)) instead of daily regimes and bursts, with Student-t shocks
  of 2.5 degrees of freedom (heavier tails, no clipping at 3 sigma);
- two sessions per weekday with a midday break (01:30-04:00 and 05:30-08:00 UTC, 30 bars each),
  no weekend bars, a price jump at each session's open, and trading halts (bars missing inside
  a session);
- intrabar excursions drawn from a Laplace law and prices on a tick grid, so some bars open at
  their low or close at their high.
Same arguments, same bars.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Sequence

import numpy as np

from scoring.market import BAR_SECONDS, Kline
from training.market_data import first_utc_day

SESSIONS_UTC = ((1, 30), (5, 30))  # each session's first bar
BARS_PER_SESSION = 30
SECOND_MARKET_SYMBOLS = ("SM-ALFA", "SM-BRAVO", "SM-CHARLIE", "SM-DELTA", "SM-ECHO", "SM-FOXTROT")


def _tick(price: float) -> float:
    return 10.0 ** (math.floor(math.log10(price)) - 3)


def _on_tick(price: float, tick: float) -> float:
    return round(round(price / tick) * tick, 6)


def second_market_klines(
    symbols: Sequence[str], end: datetime, days: int, seed: int
) -> dict[str, list[Kline]]:
    """`days` UTC days of 5-minute bars per symbol, ending at the UTC midnight at or after `end`."""
    first_day = first_utc_day(end, days)
    out: dict[str, list[Kline]] = {}
    for number, symbol in enumerate(symbols):
        rng = np.random.default_rng([seed, 31, number, sum(map(ord, symbol))])
        price = float(np.exp(rng.uniform(math.log(0.5), math.log(3000.0))))
        # GARCH(1, 1) on per-bar log returns: long-run sigma between 0.1% and 0.8% per bar.
        long_run = float(rng.uniform(0.001, 0.008))
        alpha = float(rng.uniform(0.05, 0.15))
        beta = float(rng.uniform(0.75, 0.93 - alpha))
        omega = long_run**2 * (1 - alpha - beta)
        variance, last_shock = long_run**2, 0.0
        bars: list[Kline] = []
        for d in range(days):
            day = first_day + timedelta(days=d)
            if day.weekday() >= 5:
                continue
            midnight = int(day.timestamp())
            for hour, minute in SESSIONS_UTC:
                first = midnight + hour * 3600 + minute * 60
                halted: set[int] = set()
                for _ in range(int(rng.poisson(0.4))):  # a halt: a few bars that never trade
                    start = int(rng.integers(1, BARS_PER_SESSION - 1))
                    halted.update(range(start, start + int(rng.integers(1, 7))))
                price *= math.exp(float(rng.standard_t(3)) * long_run * 4)  # the opening jump
                for i in range(BARS_PER_SESSION):
                    variance = omega + alpha * last_shock**2 + beta * variance
                    sigma = math.sqrt(variance)
                    shock = sigma * float(np.clip(rng.standard_t(2.5) / math.sqrt(5.0), -12.0, 12.0))
                    last_shock = shock
                    open_ = price
                    close = price * math.exp(shock)
                    price = close
                    if i in halted:
                        continue
                    up = float(rng.laplace(0.0, 0.6)) * sigma
                    down = float(rng.laplace(0.0, 0.6)) * sigma
                    tick = _tick(open_)
                    high = _on_tick(max(open_, close) * math.exp(abs(up)), tick)
                    low = _on_tick(min(open_, close) * math.exp(-abs(down)), tick)
                    o, c = _on_tick(open_, tick), _on_tick(close, tick)
                    volume = round(float(rng.lognormal(math.log(500.0), 0.9)), 3)
                    bars.append(
                        Kline(symbol, first + i * BAR_SECONDS, o, max(high, o, c), min(low, o, c), c, volume)
                    )
        out[symbol] = bars
    return out

"""Simulated accounts: contract-2 trades of thieves ("hacker") and of ordinary customers ("normal").
(Over 400 lines: every kind of account is drawn on the same bars by the same builder, in one place.)

The thief moves a victim's assets by trading against the victim's orders at
off-market prices inside the window's highest-amplitude 5-minute bars: it buys near the bar's low
and sells near its high, bar after bar. Those prints are what make a bar's extremes, so the
thief's fills sit at or near them. An ordinary customer fills at the market price of some moment
inside the bar, which rarely is an extreme: `_market_fill` draws a Beta(2, 2) position between
low and high.

What must NOT give the class away: dot size and colour are the renderer's
and equal for all; dot counts overlap (normal accounts range from 1 trade to 40, thieves from 4 to
dozens); normal accounts also trade the volatile bars, also round-trip inside one bar, and
sometimes profitably. What separates the classes is the repeated buy-low/sell-high pairing
across several of the day's widest bars, which is the behaviour itself.

Every trade of an account lies in [window_end - window_hours, window_end) and inside a bar that
`klines` holds, so the scoring function, which renders the 24 h before the withdrawal, sees the
same picture as training. Same arguments, same accounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Mapping, Optional, Sequence, cast

import numpy as np

from scoring.market import BAR_SECONDS, Kline, Side, Trade, epoch_to_utc, window_bar_range

HACKER = "hacker"
NORMAL = "normal"
HACKER_VARIANTS = ("classic", "split_orders", "loose_fills", "multi_symbol", "with_decoys", "outer_third")
NORMAL_VARIANTS = (
    "one_or_two",
    "day_trader",
    "scalper",
    "dca",
    "volatile_bars",
    "market_maker",
    "swing",
    "victim",
)
OUTER_THIRD = 1.0 / 3.0  # an `outer_third` thief's fill lands anywhere this far from its extreme
MAKER_HALF_SPREAD = (0.03, 0.2)  # a market maker's quote, as a fraction of the bar's range from its middle
MIN_BARS_IN_WINDOW = 12  # a symbol with fewer bars in the window is not traded by the simulator


@dataclass
class SimulatedAccount:
    user_id: str
    label: str  # "hacker" | "normal"
    variant: str
    trades: list[Trade]
    window_end: Optional[datetime] = None
    window_hours: int = 24
    victims: tuple[str, ...] = field(default_factory=tuple)

    @property
    def symbols(self) -> list[str]:
        return sorted({t.symbol for t in self.trades})


def window_bars(bars: Sequence[Kline], window_end: datetime, window_hours: int = 24) -> list[Kline]:
    """The bars of one symbol that the window [end - hours, end) overlaps, in open_time order:
    from the bar holding the window's start to the last bar opening before its end, exactly the
    range the scoring function reads (`scoring.market.window_bar_range`)."""
    first, last = window_bar_range(window_end - timedelta(hours=window_hours), window_end)
    return sorted((b for b in bars if first <= b.open_time <= last), key=lambda b: b.open_time)


class _AccountBuilder:
    """Trades of one account, with times clamped to the window and unique trade ids."""

    def __init__(self, rng: np.random.Generator, user_id: str, start: float, end: float):
        self.rng = rng
        self.user_id = user_id
        self.start = start
        self.end = end
        self.trades: list[tuple[float, str, str, float, float, Optional[str]]] = []

    def moment_in(self, bar: Kline, after: Optional[float] = None) -> float:
        lo = max(float(bar.open_time), self.start, after if after is not None else -np.inf)
        hi = min(float(bar.open_time + BAR_SECONDS), self.end)
        if lo >= hi - 0.002:
            lo = max(float(bar.open_time), self.start)
        return float(lo + self.rng.uniform(0.0, 1.0) * (hi - lo - 0.001))

    def add(self, when: float, symbol: str, side: str, price: float, qty: float, counterparty: Optional[str]):
        self.trades.append((when, symbol, side, price, qty, counterparty))

    def build(self) -> list[Trade]:
        ordered = sorted(self.trades, key=lambda t: t[0])
        out = []
        for number, (when, symbol, side, price, qty, counterparty) in enumerate(ordered):
            millis = int(when * 1000) / 1000.0
            out.append(
                Trade(
                    user_id=self.user_id,
                    trade_id=f"{self.user_id}-t{number:04d}",
                    symbol=symbol,
                    side=cast(Side, side),
                    price=round(price, 6),
                    quantity=round(qty, 6),
                    traded_at=epoch_to_utc(millis),
                    counterparty_user_id=counterparty,
                )
            )
        return out


def _user_id(rng: np.random.Generator) -> str:
    return "u-" + "".join(f"{int(x):02x}" for x in rng.integers(0, 256, size=6))


def _market_fill(rng: np.random.Generator, bar: Kline) -> float:
    """An ordinary fill: the price at some moment in the bar, rarely an extreme."""
    return bar.low + float(rng.beta(2.0, 2.0)) * (bar.high - bar.low)


def _quantity(rng: np.random.Generator, price: float, low_value: float, high_value: float) -> float:
    value = float(np.exp(rng.uniform(np.log(low_value), np.log(high_value))))
    return value / price


def _widest_bars(bars: Sequence[Kline], count: int) -> list[int]:
    """Indices of the window's highest-amplitude bars (those above 5%, at least the top `count`)."""
    order = sorted(range(len(bars)), key=lambda i: bars[i].amplitude, reverse=True)
    above = sum(1 for b in bars if b.amplitude > 0.05)
    return order[: min(len(order), max(count, min(above, 20)))]


# --- thieves ---------------------------------------------------------------------------------


def _hacker_symbol(
    acct: _AccountBuilder,
    symbol: str,
    bars: Sequence[Kline],
    variant: str,
    n_bars: int,
    victims: Sequence[str],
) -> None:
    rng = acct.rng
    candidates = _widest_bars(bars, 10)
    chosen = rng.choice(candidates, size=min(n_bars, len(candidates)), replace=False)
    # How far from the extreme a fill may land, as a fraction of the bar's range.
    slack = {"loose_fills": 0.35, "classic": 0.06, "outer_third": OUTER_THIRD}.get(variant, 0.12)
    for index in chosen:
        bar = bars[int(index)]
        span = bar.high - bar.low
        for _ in range(int(rng.choice([1, 1, 1, 2]))):  # sometimes the same bar twice
            value = float(np.exp(rng.uniform(np.log(2_000), np.log(80_000))))
            victim = str(rng.choice(list(victims)))
            buy = bar.low + span * float(rng.uniform(0.0, slack))
            sell = bar.high - span * float(rng.uniform(0.0, slack))
            pieces = int(rng.integers(2, 5)) if variant == "split_orders" else 1
            buy_first = rng.uniform() < 0.75
            first_at = acct.moment_in(bar)
            for side, price in (
                (("BUY", buy), ("SELL", sell)) if buy_first else (("SELL", sell), ("BUY", buy))
            ):
                n = pieces if (variant != "split_orders" or rng.uniform() < 0.7) else 1
                shares = rng.dirichlet(np.ones(n))
                for share in shares:
                    # fills walk the victim's book a little further from the extreme; an
                    # outer-third thief's fills are drawn over the whole outer third already
                    walk = 0.0 if variant == "outer_third" else 0.05
                    drift = span * float(rng.uniform(0.0, walk)) * (1 if side == "BUY" else -1)
                    when = acct.moment_in(bar, after=first_at)
                    acct.add(when, symbol, side, price + drift, value * share / price, victim)


def _hacker(acct: _AccountBuilder, variant: str, usable: Mapping[str, list[Kline]]) -> tuple[str, ...]:
    rng = acct.rng
    victims = tuple(_user_id(rng) for _ in range(int(rng.integers(1, 3))))
    symbols = sorted(usable)
    n_symbols = int(rng.integers(2, 4)) if variant == "multi_symbol" else 1 if rng.uniform() < 0.8 else 2
    picked = list(rng.choice(symbols, size=min(n_symbols, len(symbols)), replace=False))
    for symbol in picked:
        bars = usable[str(symbol)]
        n_bars = int(rng.integers(2, 6)) if variant == "multi_symbol" else int(rng.integers(2, 9))
        _hacker_symbol(acct, str(symbol), bars, variant, n_bars, victims)
        if variant == "with_decoys":  # ordinary-looking trades around the theft
            for _ in range(int(rng.integers(2, 11))):
                bar = bars[int(rng.integers(0, len(bars)))]
                price = _market_fill(rng, bar)
                side = "BUY" if rng.uniform() < 0.5 else "SELL"
                acct.add(
                    acct.moment_in(bar), str(symbol), side, price, _quantity(rng, price, 50, 5_000), None
                )
    return victims


# --- ordinary customers ----------------------------------------------------------------------


def _counterparty(rng: np.random.Generator) -> Optional[str]:
    # The market's other side: a different account each time, often unknown (an exchange fill).
    return _user_id(rng) if rng.uniform() < 0.6 else None


def _round_trip(
    acct: _AccountBuilder, symbol: str, bars: Sequence[Kline], i: int, j: int, long: bool, value: float
) -> None:
    rng = acct.rng
    first, second = bars[i], bars[j]
    p1 = _market_fill(rng, first)
    p2 = _market_fill(rng, second)
    t1 = acct.moment_in(first)
    t2 = acct.moment_in(second, after=t1 if i == j else None)
    sides = ("BUY", "SELL") if long else ("SELL", "BUY")
    acct.add(t1, symbol, sides[0], p1, value / p1, _counterparty(rng))
    acct.add(t2, symbol, sides[1], p2, value / p1, _counterparty(rng))


def _normal_symbol(
    acct: _AccountBuilder, symbol: str, bars: Sequence[Kline], variant: str, budget: int
) -> None:
    rng = acct.rng
    n = len(bars)
    if variant == "one_or_two":
        for _ in range(budget):
            bar = bars[int(rng.integers(0, n))]
            price = _market_fill(rng, bar)
            side = "BUY" if rng.uniform() < 0.6 else "SELL"
            acct.add(
                acct.moment_in(bar),
                symbol,
                side,
                price,
                _quantity(rng, price, 20, 20_000),
                _counterparty(rng),
            )
    elif variant == "day_trader":
        # round trips held minutes to hours; some open positions carried (an odd trade)
        made = 0
        while made < budget:
            if budget - made == 1:
                bar = bars[int(rng.integers(0, n))]
                price = _market_fill(rng, bar)
                side = "BUY" if rng.uniform() < 0.5 else "SELL"
                acct.add(acct.moment_in(bar), symbol, side, price, _quantity(rng, price, 200, 30_000), None)
                made += 1
                continue
            i = int(rng.integers(0, n))
            j = min(n - 1, i + int(rng.geometric(1 / 12)) - 1)
            _round_trip(acct, symbol, bars, i, j, rng.uniform() < 0.75, _quantity(rng, 1, 200, 30_000))
            made += 2
    elif variant == "scalper":
        # quick round trips, within the bar or the next two, leaning to busy (wide) bars
        weights = np.array([b.amplitude for b in bars]) + 1e-6
        weights = weights / weights.sum()
        for _ in range(budget // 2):
            i = int(rng.choice(n, p=weights))
            j = min(n - 1, i + int(rng.integers(0, 3)))
            _round_trip(acct, symbol, bars, i, j, rng.uniform() < 0.6, _quantity(rng, 1, 500, 50_000))
    elif variant == "dca":
        step = int(rng.integers(6, 49))  # every 30 min to 4 h
        first = int(rng.integers(0, max(1, min(step, n))))
        value = _quantity(rng, 1, 20, 2_000)
        for i in range(first, n, step)[:budget]:
            bar = bars[i]
            price = bar.close if rng.uniform() < 0.5 else _market_fill(rng, bar)
            acct.add(acct.moment_in(bar), symbol, "BUY", price, value / price, None)
        if rng.uniform() < 0.3:  # takes some profit at the end
            bar = bars[int(rng.integers(n // 2, n))]
            price = _market_fill(rng, bar)
            acct.add(acct.moment_in(bar), symbol, "SELL", price, value / price, _counterparty(rng))
    elif variant == "volatile_bars":
        # trades the same wide bars a thief would, at market prices, both ways
        candidates = _widest_bars(bars, 10)
        picked = rng.choice(candidates, size=min(len(candidates), int(rng.integers(2, 9))), replace=False)
        made = 0
        while made < budget:
            i = int(rng.choice(picked))
            if rng.uniform() < 0.6:
                _round_trip(acct, symbol, bars, i, i, rng.uniform() < 0.7, _quantity(rng, 1, 200, 40_000))
                made += 2
            else:
                bar = bars[i]
                price = _market_fill(rng, bar)
                side = "BUY" if rng.uniform() < 0.5 else "SELL"
                acct.add(acct.moment_in(bar), symbol, side, price, _quantity(rng, price, 200, 40_000), None)
                made += 1
    elif variant == "market_maker":
        _market_maker(acct, symbol, bars, budget)
    elif variant == "swing":
        _swing(acct, symbol, bars, budget)
    elif variant == "victim":
        _victim(acct, symbol, bars, budget)
    else:
        raise ValueError(f"unknown normal variant {variant!r}")


def _market_maker(acct: _AccountBuilder, symbol: str, bars: Sequence[Kline], budget: int) -> None:
    """Quotes both sides of the same bar around its middle, in busy and quiet bars alike: a buy a
    little below the bar's middle and a sell a little above, both filled, bar after bar."""
    rng = acct.rng
    n = len(bars)
    weights = np.array([b.amplitude for b in bars]) + float(np.median([b.amplitude for b in bars])) + 1e-6
    weights = weights / weights.sum()
    made = 0
    while made < budget:
        bar = bars[int(rng.choice(n, p=weights))]
        middle, span = (bar.high + bar.low) / 2, bar.high - bar.low
        half = float(rng.uniform(*MAKER_HALF_SPREAD))
        value = _quantity(rng, 1, 500, 20_000)
        for side, sign in (("BUY", -1), ("SELL", 1)):
            price = middle + sign * span * half * float(rng.uniform(0.6, 1.0))
            acct.add(acct.moment_in(bar), symbol, side, price, value / price, _counterparty(rng))
        made += 2


def _swing(acct: _AccountBuilder, symbol: str, bars: Sequence[Kline], budget: int) -> None:
    """Buys dips and sells rallies across bars: a buy near the low of a stretch's lowest bar, the
    sell near the high of a later stretch's highest bar (never the same bar)."""
    rng = acct.rng
    n = len(bars)
    for _ in range(max(1, budget // 2)):
        i0 = int(rng.integers(0, n - 2))
        length = int(rng.integers(2, max(3, min(36, n - i0))))
        stretch = range(i0, min(n - 1, i0 + length))
        i = min(stretch, key=lambda k: bars[k].low)
        later = range(i + 1, min(n, i + 1 + int(rng.integers(2, 48))))
        j = max(later, key=lambda k: bars[k].high)
        dip, rally = bars[i], bars[j]
        buy = dip.low + (dip.high - dip.low) * float(rng.uniform(0.0, 0.3))
        sell = rally.high - (rally.high - rally.low) * float(rng.uniform(0.0, 0.3))
        value = _quantity(rng, 1, 200, 30_000)
        acct.add(acct.moment_in(dip), symbol, "BUY", buy, value / buy, _counterparty(rng))
        acct.add(acct.moment_in(rally), symbol, "SELL", sell, value / buy, _counterparty(rng))


def _victim(acct: _AccountBuilder, symbol: str, bars: Sequence[Kline], budget: int) -> None:
    """Loses on the day's widest bars, the mirror of a thief: buys near a bar's high and sells
    near its low in the same bar (a thief's victim, or a panicking customer). Never a thief."""
    rng = acct.rng
    candidates = _widest_bars(bars, 10)
    chosen = rng.choice(candidates, size=min(len(candidates), max(1, budget // 2)), replace=False)
    for index in chosen:
        bar = bars[int(index)]
        span = bar.high - bar.low
        buy = bar.high - span * float(rng.uniform(0.0, OUTER_THIRD))
        sell = bar.low + span * float(rng.uniform(0.0, OUTER_THIRD))
        value = _quantity(rng, 1, 200, 40_000)
        first = acct.moment_in(bar)
        for side, price in (
            (("BUY", buy), ("SELL", sell)) if rng.uniform() < 0.6 else (("SELL", sell), ("BUY", buy))
        ):
            acct.add(acct.moment_in(bar, after=first), symbol, side, price, value / buy, _counterparty(rng))


_NORMAL_BUDGET: dict[str, Callable[[np.random.Generator], int]] = {
    "one_or_two": lambda rng: int(rng.integers(1, 3)),
    "day_trader": lambda rng: int(rng.integers(5, 31)),
    "scalper": lambda rng: int(rng.integers(10, 41)),
    "dca": lambda rng: int(rng.integers(3, 25)),
    "volatile_bars": lambda rng: int(rng.integers(4, 21)),
    "market_maker": lambda rng: int(rng.integers(6, 41)),
    "swing": lambda rng: int(rng.integers(2, 21)),
    "victim": lambda rng: int(rng.integers(4, 17)),
}


def _normal(acct: _AccountBuilder, variant: str, usable: Mapping[str, list[Kline]]) -> None:
    rng = acct.rng
    symbols = sorted(usable)
    if variant == "one_or_two":
        total = _NORMAL_BUDGET[variant](rng)
        n_symbols = 2 if total == 2 and rng.uniform() < 0.3 else 1
        picked = [str(s) for s in rng.choice(symbols, size=min(n_symbols, len(symbols)), replace=False)]
        for symbol in picked:
            _normal_symbol(acct, symbol, usable[symbol], variant, total // len(picked))
        return
    roll = rng.uniform()
    n_symbols = 1 if roll < 0.7 else (2 if roll < 0.95 else 3)
    picked = [str(s) for s in rng.choice(symbols, size=min(n_symbols, len(symbols)), replace=False)]
    for symbol in picked:
        _normal_symbol(acct, symbol, usable[symbol], variant, _NORMAL_BUDGET[variant](rng))


# --- entry point -----------------------------------------------------------------------------


def simulate_accounts(
    klines: Mapping[str, list[Kline]],
    n_hacker: int,
    n_normal: int,
    seed: int,
    window_end: datetime,
    window_hours: int = 24,
) -> list[SimulatedAccount]:
    """`n_hacker` thieves and `n_normal` ordinary accounts trading in one window.

    Variants are assigned in turn (`HACKER_VARIANTS`, `NORMAL_VARIANTS`), so each is evenly
    represented; the accounts come back shuffled. Raises ValueError when no symbol has at least
    `MIN_BARS_IN_WINDOW` bars in the window (e.g. stocks over a weekend).
    """
    if window_end.tzinfo is None:
        raise ValueError("window_end must be timezone-aware UTC")
    usable = {}
    for symbol, bars in sorted(klines.items()):
        in_window = window_bars(bars, window_end, window_hours)
        if len(in_window) >= MIN_BARS_IN_WINDOW:
            usable[symbol] = in_window
    if not usable:
        raise ValueError(
            f"no symbol has {MIN_BARS_IN_WINDOW}+ bars in the {window_hours} h before {window_end}"
        )
    start = (window_end - timedelta(hours=window_hours)).timestamp()
    end = window_end.timestamp()
    root = np.random.SeedSequence([seed, int(end)])
    children = root.spawn(n_hacker + n_normal)
    accounts = []
    for number, child in enumerate(children):
        rng = np.random.default_rng(child)
        user_id = _user_id(rng)
        acct = _AccountBuilder(rng, user_id, start, end)
        if number < n_hacker:
            label, variant = HACKER, HACKER_VARIANTS[number % len(HACKER_VARIANTS)]
            victims = _hacker(acct, variant, usable)
        else:
            label, variant = NORMAL, NORMAL_VARIANTS[(number - n_hacker) % len(NORMAL_VARIANTS)]
            victims = ()
            _normal(acct, variant, usable)
        accounts.append(
            SimulatedAccount(user_id, label, variant, acct.build(), window_end, window_hours, victims)
        )
    order = np.random.default_rng(root.spawn(1)[0]).permutation(len(accounts))
    return [accounts[int(i)] for i in order]


def account_charts(
    account: SimulatedAccount, klines: Mapping[str, list[Kline]]
) -> list[tuple[str, list[Kline], list[Trade]]]:
    """(symbol, window bars, trades) per symbol the account traded: the inputs of one chart each."""
    if account.window_end is None:
        raise ValueError(f"{account.user_id}: no window_end")
    out = []
    for symbol in account.symbols:
        bars = window_bars(klines[symbol], account.window_end, account.window_hours)
        out.append((symbol, bars, [t for t in account.trades if t.symbol == symbol]))
    return out

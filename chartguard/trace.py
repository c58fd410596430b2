"""Counterparty trace: who was on the other side of a flagged account's trades, and what moved.

For each trade of the flagged account in its record's window (contract 2's trades, with their
optional `counterparty_user_id`), the trade's 5-minute bar (contract 3) gives a fair price,
mid = (high + low) / 2. What the flagged account gained against it on that trade is

    BUY  at price p, quantity q:  (mid - p) * q   (it bought below the fair price)
    SELL at price p, quantity q:  (p - mid) * q   (it sold above the fair price)

and the value moved from a counterparty is the sum over the trades against that counterparty.
Positive: the counterparty lost that much to the flagged account (a likely victim); negative: the
flagged account gave value away. Counterparties are sorted by value moved, highest first. Trades
that name no counterparty are grouped as "(unknown)"; a trade whose bar is missing from the
klines table is counted but adds nothing to the value moved (reported as `unpriced`).

Notional = price * quantity, in the symbol's quote currency; value moved is in that currency too,
so sums across symbols assume one quote currency (e.g. all `*-USD`).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Optional, Sequence

from chartguard.record_format import format_table, printable
from chartguard.table_reads import read_window, record_window
from scoring.market import Kline, Trade, bar_open_time, format_utc

UNKNOWN_COUNTERPARTY = "(unknown)"

VALUE_MOVED_RULE = (
    "value moved = sum over the account's trades with that counterparty of its gain against the "
    "trade's 5-minute bar: BUY at p: (mid - p) * qty; SELL at p: (p - mid) * qty; "
    "mid = (high + low) / 2 of the bar; positive = the counterparty lost it to the account"
)


def fair_price(bar: Kline) -> float:
    """The bar's mid: (high + low) / 2."""
    return (bar.high + bar.low) / 2


def trade_gain(trade: Trade, mid: float) -> float:
    """What the account gained on one trade against the fair price `mid` (see the module doc)."""
    if trade.side == "BUY":
        return (mid - trade.price) * trade.quantity
    return (trade.price - mid) * trade.quantity


@dataclass
class Leg:
    """The trades against one counterparty in one symbol."""

    symbol: str
    trades: int = 0
    bought_qty: float = 0.0
    bought_notional: float = 0.0
    sold_qty: float = 0.0
    sold_notional: float = 0.0
    value_moved: float = 0.0
    unpriced: int = 0  # trades whose bar is missing: counted, not valued

    def add(self, trade: Trade, mid: Optional[float]) -> None:
        self.trades += 1
        notional = trade.price * trade.quantity
        if trade.side == "BUY":
            self.bought_qty += trade.quantity
            self.bought_notional += notional
        else:
            self.sold_qty += trade.quantity
            self.sold_notional += notional
        if mid is None:
            self.unpriced += 1
        else:
            self.value_moved += trade_gain(trade, mid)


@dataclass
class CounterpartyFlow:
    """Everything between the flagged account and one counterparty in the window."""

    counterparty: str
    legs: dict[str, Leg] = field(default_factory=dict)

    @property
    def trades(self) -> int:
        return sum(leg.trades for leg in self.legs.values())

    @property
    def value_moved(self) -> float:
        return sum(leg.value_moved for leg in self.legs.values())

    @property
    def bought_notional(self) -> float:
        return sum(leg.bought_notional for leg in self.legs.values())

    @property
    def sold_notional(self) -> float:
        return sum(leg.sold_notional for leg in self.legs.values())

    @property
    def unpriced(self) -> int:
        return sum(leg.unpriced for leg in self.legs.values())

    def sorted_legs(self) -> list[Leg]:
        return sorted(self.legs.values(), key=lambda leg: (-leg.value_moved, leg.symbol))


def counterparty_flows(
    trades: Iterable[Trade], bars_by_symbol: Mapping[str, Sequence[Kline]]
) -> list[CounterpartyFlow]:
    """Group the trades by counterparty and value them; the largest value moved first."""
    mids = {
        (symbol, bar.open_time): fair_price(bar) for symbol, bars in bars_by_symbol.items() for bar in bars
    }
    flows: dict[str, CounterpartyFlow] = {}
    for trade in trades:
        name = trade.counterparty_user_id or UNKNOWN_COUNTERPARTY
        flow = flows.setdefault(name, CounterpartyFlow(name))
        leg = flow.legs.setdefault(trade.symbol, Leg(trade.symbol))
        leg.add(trade, mids.get((trade.symbol, bar_open_time(trade.traded_at))))
    return sorted(flows.values(), key=lambda flow: (-flow.value_moved, flow.counterparty))


@dataclass
class Trace:
    """The counterparty trace of one risk record's window."""

    user_id: str
    withdrawal_id: str
    window_start: datetime
    window_end: datetime
    flows: list[CounterpartyFlow]

    @property
    def trade_count(self) -> int:
        return sum(flow.trades for flow in self.flows)

    @property
    def value_moved(self) -> float:
        return sum(flow.value_moved for flow in self.flows)

    @property
    def unpriced(self) -> int:
        return sum(flow.unpriced for flow in self.flows)


def trace_window(
    *,
    user_id: str,
    withdrawal_id: str,
    window_start: datetime,
    window_end: datetime,
    trades: Sequence[Trade],
    bars_by_symbol: Mapping[str, Sequence[Kline]],
) -> Trace:
    """The trace of trades already read for [window_start, window_end)."""
    inside = [t for t in trades if window_start <= t.traded_at < window_end]
    return Trace(
        user_id=user_id,
        withdrawal_id=withdrawal_id,
        window_start=window_start,
        window_end=window_end,
        flows=counterparty_flows(inside, bars_by_symbol),
    )


def _round(value: float) -> float:
    # Sums of binary floats: 10 decimals hides 0.1 + 0.2 noise and keeps any real price digits.
    return round(value, 10) + 0.0  # + 0.0 turns -0.0 into 0.0


def trace_as_json(trace: Trace) -> dict[str, Any]:
    return {
        "user_id": trace.user_id,
        "withdrawal_id": trace.withdrawal_id,
        "window_start": format_utc(trace.window_start),
        "window_end": format_utc(trace.window_end),
        "trade_count": trace.trade_count,
        "value_moved": _round(trace.value_moved),
        "unpriced_trades": trace.unpriced,
        "rule": VALUE_MOVED_RULE,
        "counterparties": [
            {
                "counterparty": flow.counterparty,
                "trades": flow.trades,
                "value_moved": _round(flow.value_moved),
                "bought_notional": _round(flow.bought_notional),
                "sold_notional": _round(flow.sold_notional),
                "unpriced_trades": flow.unpriced,
                "symbols": [
                    {
                        "symbol": leg.symbol,
                        "trades": leg.trades,
                        "bought_qty": _round(leg.bought_qty),
                        "bought_notional": _round(leg.bought_notional),
                        "sold_qty": _round(leg.sold_qty),
                        "sold_notional": _round(leg.sold_notional),
                        "value_moved": _round(leg.value_moved),
                        "unpriced_trades": leg.unpriced,
                    }
                    for leg in flow.sorted_legs()
                ],
            }
            for flow in trace.flows
        ],
    }


def money(value: float) -> str:
    """Two decimals with thousands separators; tiny prices keep their significant digits."""
    if value != 0 and abs(value) < 0.01:
        return f"{value:.4g}"
    return f"{value:,.2f}"


def quantity(value: float) -> str:
    return f"{value:,.8g}" if abs(value) < 1e8 else f"{value:,.0f}"


TRACE_COLUMNS = (
    "COUNTERPARTY",
    "VALUE MOVED",
    "SYMBOL",
    "TRADES",
    "BOUGHT QTY",
    "BOUGHT NOTIONAL",
    "SOLD QTY",
    "SOLD NOTIONAL",
)


def trace_rows(trace: Trace) -> list[tuple[str, ...]]:
    """One row per counterparty and symbol (quantities only add up within a symbol).

    The counterparties keep their order (total value moved, highest first); a counterparty with
    more than one symbol gets a `total` row after its symbols.
    """
    rows: list[tuple[str, ...]] = []
    for flow in trace.flows:
        legs = flow.sorted_legs()
        for leg in legs:
            rows.append(
                (
                    flow.counterparty,
                    money(leg.value_moved) + ("*" if leg.unpriced else ""),
                    leg.symbol,
                    str(leg.trades),
                    quantity(leg.bought_qty),
                    money(leg.bought_notional),
                    quantity(leg.sold_qty),
                    money(leg.sold_notional),
                )
            )
        if len(legs) > 1:
            rows.append(
                (
                    flow.counterparty,
                    money(flow.value_moved) + ("*" if flow.unpriced else ""),
                    "total",
                    str(flow.trades),
                    "",
                    money(flow.bought_notional),
                    "",
                    money(flow.sold_notional),
                )
            )
    return rows


# --- a risk record's trace, read from the tables, and as text -------------------------------------


def trace_record(dynamodb: Any, record: Mapping[str, Any], *, trades_table: str, klines_table: str) -> Trace:
    start, end = record_window(record)
    user_id = str(record["user_id"])
    trades, bars = read_window(
        dynamodb, trades_table=trades_table, klines_table=klines_table, user_id=user_id, start=start, end=end
    )
    return trace_window(
        user_id=user_id,
        withdrawal_id=str(record.get("withdrawal_id", "")),
        window_start=start,
        window_end=end,
        trades=trades,
        bars_by_symbol=bars,
    )


def trace_text(trace: Trace) -> str:
    header = (
        f"counterparties of {printable(trace.user_id)}, withdrawal {printable(trace.withdrawal_id)}, "
        f"window {trace.window_start:%Y-%m-%dT%H:%M:%SZ} .. {trace.window_end:%Y-%m-%dT%H:%M:%SZ}: "
        f"{trace.trade_count} trades, value moved {money(trace.value_moved)}"
    )
    if not trace.flows:
        return header + "\nno trades in the window"
    table = format_table(TRACE_COLUMNS, trace_rows(trace), right=(1, 3, 4, 5, 6, 7))
    footer = textwrap.wrap(f"{VALUE_MOVED_RULE}.", width=100)
    if trace.unpriced:
        footer.append(
            f"* {trace.unpriced} trade(s) in bars missing from the klines table: counted, not valued."
        )
    return "\n".join([header, table, *footer])

"""Trades and 5-minute klines: the records of contracts 2 and 3 (docs/design.md).

Plain data with conversions to and from DynamoDB items. No AWS calls here: the scoring function,
the training simulators and the local stack all build and read these records the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal, Mapping, Optional, Protocol

BAR_SECONDS = 300  # contract 3: 5-minute bars only
Side = Literal["BUY", "SELL"]
SIDES = ("BUY", "SELL")
# A stored trade's symbol names a klines partition and an evidence object: kept short and plain.
SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,31}$")


def parse_utc(value: str) -> datetime:
    """ISO-8601 with `Z` or an offset -> aware UTC datetime (3.9's fromisoformat lacks `Z`)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone; contract 2 asks for UTC with a Z")
    return parsed.astimezone(timezone.utc)


def format_utc(moment: datetime) -> str:
    """Aware datetime -> `2026-11-22T04:07:21.123Z` (contract 2: milliseconds and a Z, sorts by time)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: give a UTC time")
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def bar_open_time(moment: datetime) -> int:
    """Epoch seconds of the 5-minute bar that contains `moment`."""
    seconds = int(moment.timestamp() // 1)
    return seconds - seconds % BAR_SECONDS


def epoch_to_utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _decimal(value: float) -> Decimal:
    # DynamoDB numbers: via str() so 0.1 stays 0.1 rather than its binary expansion.
    return Decimal(str(value))


def _check_bar(symbol: str, open_time: int, low: float, high: float) -> None:
    if open_time % BAR_SECONDS:
        raise ValueError(f"{symbol} bar at {open_time}: open_time must be a multiple of 300")
    if low > high:
        raise ValueError(f"{symbol} bar at {open_time}: low {low} > high {high}")


@dataclass(frozen=True)
class Trade:
    """One fill of one account (contract 2)."""

    user_id: str
    trade_id: str
    symbol: str
    side: Side
    price: float
    quantity: float
    traded_at: datetime
    counterparty_user_id: Optional[str] = None

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"trade {self.trade_id}: side must be BUY or SELL, got {self.side!r}")
        if self.traded_at.tzinfo is None:
            raise ValueError(f"trade {self.trade_id}: traded_at must be timezone-aware UTC")

    @property
    def trade_key(self) -> str:
        return f"{format_utc(self.traded_at)}#{self.trade_id}"

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "user_id": self.user_id,
            "trade_key": self.trade_key,
            "trade_id": self.trade_id,
            "symbol": self.symbol,
            "side": self.side,
            "price": _decimal(self.price),
            "quantity": _decimal(self.quantity),
            "traded_at": format_utc(self.traded_at),
        }
        if self.counterparty_user_id:
            item["counterparty_user_id"] = self.counterparty_user_id
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Trade:
        """A stored trade; ValueError/KeyError/TypeError if a field the chart needs breaks contract 2."""
        side = str(item["side"]).upper()
        symbol = item["symbol"]
        if not isinstance(symbol, str) or not SYMBOL.match(symbol):
            raise ValueError(f"symbol {str(symbol)[:40]!r} is not 1-32 letters, digits or ._:/-")
        return cls(
            user_id=str(item["user_id"]),
            trade_id=str(item["trade_id"]),
            symbol=symbol,
            side=side,  # type: ignore[arg-type]  # checked in __post_init__
            price=_finite(item["price"], "price"),
            quantity=_finite(item["quantity"], "quantity"),
            traded_at=parse_utc(str(item["traded_at"])),
            counterparty_user_id=counterparty_id(item.get("counterparty_user_id")),
        )


@dataclass(frozen=True)
class WindowTrades:
    """An account's trades of a window as read: the valid ones, oldest first, a note on each stored
    trade that breaks contract 2 (left out of the picture), and whether more were there than read."""

    trades: list[Trade]
    invalid: tuple[str, ...] = ()
    truncated: bool = False


def _finite(value: Any, name: str) -> float:
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{name} {value!r} is not a finite number")
    return number


def counterparty_id(value: Any) -> Optional[str]:
    """A stored counterparty as text: an id stored as a number is still that id; anything else
    (a map, a list, a flag, an empty string) is an unknown counterparty, never a failure: it is
    not part of the picture the account is judged on."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        number = Decimal(value)
        if number.is_finite():
            return str(int(number)) if number == number.to_integral_value() else format(number, "f")
    return None


@dataclass(frozen=True)
class Kline:
    """One 5-minute bar of one symbol (contract 3)."""

    symbol: str
    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0

    def __post_init__(self) -> None:
        _check_bar(self.symbol, self.open_time, self.low, self.high)

    @property
    def amplitude(self) -> float:
        """(high - low) / low: how far prices moved inside the bar."""
        return (self.high - self.low) / self.low if self.low > 0 else 0.0

    def to_item(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "open_time": self.open_time,
            "open": _decimal(self.open),
            "high": _decimal(self.high),
            "low": _decimal(self.low),
            "close": _decimal(self.close),
            "volume": _decimal(self.volume),
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Kline:
        return cls(
            symbol=str(item["symbol"]),
            open_time=int(item["open_time"]),
            open=float(item["open"]),
            high=float(item["high"]),
            low=float(item["low"]),
            close=float(item["close"]),
            volume=float(item.get("volume", 0)),
        )


class BarLike(Protocol):
    """What the chart needs of a 5-minute bar: its symbol, when it opened, its high and low."""

    @property
    def symbol(self) -> str: ...
    @property
    def open_time(self) -> int: ...
    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...


@dataclass(frozen=True)
class BarRange:
    """A kline read for charting only: the scoring function fetches no open, close or volume
    (a third of the attributes: less to transfer and to parse per message)."""

    symbol: str
    open_time: int
    high: float
    low: float

    def __post_init__(self) -> None:
        _check_bar(self.symbol, self.open_time, self.low, self.high)


def window_bar_range(start: datetime, end: datetime) -> tuple[int, int]:
    """First and last open_time of the 5-minute bars that overlap the window [start, end).

    The window is half-open: a trade at exactly `end` belongs to the next window, so the bar
    that opens at `end` is never part of this one. Training and scoring both frame charts so.
    """
    if end <= start:
        raise ValueError(f"empty window: {start.isoformat()} .. {end.isoformat()}")
    return bar_open_time(start), bar_open_time(end - timedelta(milliseconds=1))

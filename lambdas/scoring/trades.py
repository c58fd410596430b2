"""Reads of the trades table (contract 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator

from scoring.contracts import TRADES_TABLE
from scoring.dynamodb_query import query_items
from scoring.errors import InvalidStoredRecord
from scoring.market import Trade, WindowTrades, format_utc


class TradesTable:
    def __init__(self, dynamodb: Any, table_name: str):
        self._dynamodb = dynamodb
        self._table = table_name

    def _window_items(self, user_id: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """The account's stored trades with start <= traded_at < end, oldest first.

        Keys are `<traded_at>#<trade_id>`: every key of a trade at `end` sorts after `<end>`, so
        BETWEEN `<start>` AND `<end>` is exactly the half-open window.
        """
        pk, sk = TRADES_TABLE.partition.name, TRADES_TABLE.sort.name
        return query_items(
            self._dynamodb,
            f"query trades of {user_id}",
            TableName=self._table,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :lo AND :hi",
            ExpressionAttributeNames={"#pk": pk, "#sk": sk},
            ExpressionAttributeValues={
                ":pk": {"S": user_id},
                ":lo": {"S": format_utc(start)},
                ":hi": {"S": format_utc(end)},
            },
        )

    def trades_in_window(self, user_id: str, start: datetime, end: datetime) -> list[Trade]:
        """The account's trades of the window, oldest first; InvalidStoredRecord at a broken one."""
        trades = []
        for item in self._window_items(user_id, start, end):
            try:
                trades.append(Trade.from_item(item))
            except (KeyError, ValueError, TypeError, ArithmeticError) as error:
                raise InvalidStoredRecord(_broken(item, user_id, error)) from error
        return trades

    def read_window(self, user_id: str, start: datetime, end: datetime, limit: int) -> WindowTrades:
        """The window for the decision: at most `limit` trades are read (`truncated` if there are
        more), and a stored trade that breaks contract 2 is noted instead of failing the read."""
        trades: list[Trade] = []
        invalid: list[str] = []
        for item in self._window_items(user_id, start, end):
            if len(trades) + len(invalid) == limit:
                return WindowTrades(trades, tuple(invalid), truncated=True)
            try:
                trades.append(Trade.from_item(item))
            except (KeyError, ValueError, TypeError, ArithmeticError) as error:
                invalid.append(_broken(item, user_id, error))
        return WindowTrades(trades, tuple(invalid))


def _broken(item: dict[str, Any], user_id: str, error: Exception) -> str:
    return f"trade {str(item.get(TRADES_TABLE.sort.name))[:80]!r} of {user_id} breaks contract 2: {error}"

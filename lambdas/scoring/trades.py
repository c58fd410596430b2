"""Reads of the trades table (contract 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator

from scoring.contracts import TRADES_TABLE
from scoring.dynamodb_query import query_items
from scoring.errors import InvalidStoredRecord
from scoring.market import Trade, WindowTrades, format_utc

# What Trade.from_item reads besides the account, which is the partition the query names (the
# sort key is traded_at#trade_id): fewer attributes are fewer shapes for botocore to parse.
_READ = ("trade_id", "symbol", "side", "price", "quantity", "traded_at", "counterparty_user_id")


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
        items = query_items(
            self._dynamodb,
            f"query trades of {user_id}",
            TableName=self._table,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :lo AND :hi",
            ProjectionExpression=", ".join(f"#a{n}" for n in range(len(_READ))),
            ExpressionAttributeNames={
                "#pk": pk,
                "#sk": sk,
                **{f"#a{n}": name for n, name in enumerate(_READ)},
            },
            ExpressionAttributeValues={
                ":pk": {"S": user_id},
                ":lo": {"S": format_utc(start)},
                ":hi": {"S": format_utc(end)},
            },
        )
        for item in items:
            item[pk] = user_id
            yield item

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
    key = f"{item.get('traded_at')}#{item.get('trade_id')}"  # the sort key, as contract 2 makes it
    return f"trade {key[:80]!r} of {user_id} breaks contract 2: {error}"

"""Reads of the trades table (contract 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scoring.contracts import TRADES_TABLE
from scoring.dynamodb_query import query_items
from scoring.errors import InvalidStoredRecord
from scoring.market import Trade, format_utc


class TradesTable:
    def __init__(self, dynamodb: Any, table_name: str):
        self._dynamodb = dynamodb
        self._table = table_name

    def trades_in_window(self, user_id: str, start: datetime, end: datetime) -> list[Trade]:
        """The account's trades with start <= traded_at < end, oldest first.

        Keys are `<traded_at>#<trade_id>`: every key of a trade at `end` sorts after `<end>`, so
        BETWEEN `<start>` AND `<end>` is exactly the half-open window.
        """
        pk, sk = TRADES_TABLE.partition.name, TRADES_TABLE.sort.name
        items = query_items(
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
        trades = []
        for item in items:
            try:
                trades.append(Trade.from_item(item))
            except (KeyError, ValueError, TypeError, ArithmeticError) as error:
                raise InvalidStoredRecord(
                    f"trade {item.get(sk)!r} of {user_id} breaks contract 2: {error}"
                ) from error
        return trades

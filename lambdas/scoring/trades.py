"""Reads of the trades (contract 2) and klines (contract 3) tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from scoring.clients import raise_translated
from scoring.contracts import KLINES_TABLE, TRADES_TABLE
from scoring.errors import InvalidStoredRecord
from scoring.market import BarRange, Kline, Trade, format_utc, window_bar_range

_deserializer = TypeDeserializer()


def _query_all(dynamodb: Any, action: str, **query: Any) -> Iterator[dict[str, Any]]:
    """Every item of a key-condition query, following LastEvaluatedKey."""
    while True:
        try:
            page = dynamodb.query(**query)
        except (ClientError, BotoCoreError) as error:
            raise_translated(error, action)
        for item in page.get("Items", []):
            yield {name: _deserializer.deserialize(value) for name, value in item.items()}
        if "LastEvaluatedKey" not in page:
            return
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


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
        items = _query_all(
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


class KlinesTable:
    def __init__(self, dynamodb: Any, table_name: str):
        self._dynamodb = dynamodb
        self._table = table_name

    def _query(self, symbol: str, start: datetime, end: datetime, **extra: Any) -> Iterator[dict[str, Any]]:
        pk, sk = KLINES_TABLE.partition.name, KLINES_TABLE.sort.name
        first, last = window_bar_range(start, end)
        names = {"#pk": pk, "#sk": sk, **extra.pop("ExpressionAttributeNames", {})}
        return _query_all(
            self._dynamodb,
            f"query klines of {symbol}",
            TableName=self._table,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :lo AND :hi",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":pk": {"S": symbol},
                ":lo": {"N": str(first)},
                ":hi": {"N": str(last)},
            },
            **extra,
        )

    def bars_in_window(self, symbol: str, start: datetime, end: datetime) -> list[BarRange]:
        """The symbol's 5-minute bars that overlap [start, end), in time order: only what the chart needs."""
        items = self._query(
            symbol,
            start,
            end,
            ProjectionExpression="#sk, #high, #low",
            ExpressionAttributeNames={"#high": "high", "#low": "low"},
        )
        sk = KLINES_TABLE.sort.name
        try:
            return [
                BarRange(symbol, int(item[sk]), float(item["high"]), float(item["low"])) for item in items
            ]
        except (KeyError, ValueError, TypeError, ArithmeticError) as error:
            raise InvalidStoredRecord(f"a kline of {symbol} breaks contract 3: {error}") from error

    def klines_in_window(self, symbol: str, start: datetime, end: datetime) -> list[Kline]:
        """The same bars with every attribute (open, close, volume too), for people's charts."""
        try:
            return [Kline.from_item(item) for item in self._query(symbol, start, end)]
        except (KeyError, ValueError, TypeError, ArithmeticError) as error:
            raise InvalidStoredRecord(f"a kline of {symbol} breaks contract 3: {error}") from error

"""The analysts' reads: risk records by day and by account (contract 4), and a record's window of trades and klines."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Mapping, Optional

from chartguard.stack_access import UserError
from scoring.contracts import RISK_BY_DAY_INDEX, RISK_TABLE
from scoring.dynamodb_query import query_items
from scoring.errors import ScoringError
from scoring.klines import KlinesTable
from scoring.market import Kline, Trade, parse_utc
from scoring.trades import TradesTable

MAX_EXPORT_DAYS = 366


def _risk_query(dynamodb: Any, action: str, limit: Optional[int], **query: Any) -> list[dict[str, Any]]:
    """Every item of a Query on the risk table (at most `limit`), failures as a UserError."""
    try:
        return list(query_items(dynamodb, action, limit, **query))
    except ScoringError as error:
        raise UserError(str(error)) from error


def flags_of_day(
    dynamodb: Any,
    table: str,
    day: str,
    *,
    limit: Optional[int] = None,
    min_score: Optional[float] = None,
) -> list[dict[str, Any]]:
    """The day's risk records, highest score first: a Query on the by-day index, every page."""
    names = {"#day": RISK_BY_DAY_INDEX.partition.name}
    values: dict[str, Any] = {":day": {"S": day}}
    condition = "#day = :day"
    if min_score is not None:
        names["#score"] = RISK_BY_DAY_INDEX.sort.name
        values[":min"] = {"N": str(Decimal(repr(float(min_score))))}
        condition += " AND #score >= :min"
    return list(
        _risk_query(
            dynamodb,
            f"query {table} index {RISK_BY_DAY_INDEX.name} for {day}",
            limit,
            TableName=table,
            IndexName=RISK_BY_DAY_INDEX.name,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
        )
    )


def records_of_user(
    dynamodb: Any, table: str, user_id: str, *, withdrawal_id: Optional[str] = None
) -> list[dict[str, Any]]:
    """The account's risk records, newest first (event keys start with requested_at)."""
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": RISK_TABLE.partition.name},
        "ExpressionAttributeValues": {":pk": {"S": user_id}},
        "ScanIndexForward": False,
    }
    if withdrawal_id is not None:
        query["FilterExpression"] = "#w = :w"
        query["ExpressionAttributeNames"]["#w"] = "withdrawal_id"
        query["ExpressionAttributeValues"][":w"] = {"S": withdrawal_id}
    return list(_risk_query(dynamodb, f"query {table} for {user_id}", None, **query))


def days_between(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    if end < start:
        raise UserError(f"--to {last} is before --from {first}")
    count = (end - start).days + 1
    if count > MAX_EXPORT_DAYS:
        raise UserError(f"{count} days asked; export at most {MAX_EXPORT_DAYS} at a time")
    return [(start + timedelta(days=n)).isoformat() for n in range(count)]


def record_window(record: Mapping[str, Any]) -> tuple[datetime, datetime]:
    try:
        return parse_utc(str(record["window_start"])), parse_utc(str(record["window_end"]))
    except (KeyError, ValueError) as error:
        raise UserError(f"risk record {record.get('event_key')!r} has no valid window: {error}") from error


def read_window(
    dynamodb: Any, *, trades_table: str, klines_table: str, user_id: str, start: datetime, end: datetime
) -> tuple[list[Trade], dict[str, list[Kline]]]:
    """The account's trades in [start, end) and the 5-minute bars of every symbol it traded."""
    try:
        trades = TradesTable(dynamodb, trades_table).trades_in_window(user_id, start, end)
        klines = KlinesTable(dynamodb, klines_table)
        bars = {
            symbol: klines.klines_in_window(symbol, start, end)
            for symbol in sorted({t.symbol for t in trades})
        }
    except ScoringError as error:
        raise UserError(str(error)) from error
    return trades, bars

"""`chartguard load`: klines (CSV, Alpha Vantage, synthetic: training.market_data), trades and simulated accounts into the tables."""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence, cast

from chartguard.stack_access import StackConfig, UserError, client
from local.resources import put_items
from scoring.market import Kline, Side, Trade, parse_utc

TRADE_CSV_COLUMNS = (
    "user_id",
    "trade_id",
    "symbol",
    "side",
    "price",
    "quantity",
    "traded_at",
    "counterparty_user_id",
)
TRUTH_CSV_COLUMNS = ("user_id", "label", "variant", "symbols", "trades")


def load_klines(dynamodb: Any, table: str, bars: Iterable[Kline]) -> int:
    return put_items(dynamodb, table, (bar.to_item() for bar in bars))


def load_trades(dynamodb: Any, table: str, trades: Iterable[Trade]) -> int:
    return put_items(dynamodb, table, (trade.to_item() for trade in trades))


def read_trades_csv(path: Path) -> list[Trade]:
    """Trades from a CSV with the columns of TRADE_CSV_COLUMNS (counterparty_user_id may be empty)."""
    trades = []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(TRADE_CSV_COLUMNS[:-1]) - set(reader.fieldnames or ())
        if missing:
            raise UserError(
                f"{path}: missing column(s) {', '.join(sorted(missing))}; expected {', '.join(TRADE_CSV_COLUMNS)}"
            )
        for line, row in enumerate(reader, start=2):
            try:
                trades.append(
                    Trade(
                        user_id=row["user_id"],
                        trade_id=row["trade_id"],
                        symbol=row["symbol"],
                        side=cast(Side, row["side"].upper()),
                        price=float(row["price"]),
                        quantity=float(row["quantity"]),
                        traded_at=parse_utc(row["traded_at"]),
                        counterparty_user_id=row.get("counterparty_user_id") or None,
                    )
                )
            except (ValueError, KeyError) as error:
                raise UserError(f"{path}:{line}: {error}") from None
    return trades


def write_truth_csv(path: Path, accounts: Sequence[Any]) -> None:
    """The simulator's labels (for measuring precision and recall against what the system flags)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRUTH_CSV_COLUMNS)
        for account in accounts:
            writer.writerow(
                [
                    account.user_id,
                    account.label,
                    account.variant,
                    " ".join(account.symbols),
                    len(account.trades),
                ]
            )


def _end(text: str | None) -> datetime:
    if not text:
        now = datetime.now(timezone.utc)
        return now.replace(second=0, microsecond=0)
    try:
        return parse_utc(text)
    except ValueError as error:
        raise UserError(str(error)) from None


def _run_klines(args: argparse.Namespace) -> int:
    table = args.table or StackConfig.from_environ().require("klines_table")
    if args.csv:
        from training.market_data import load_csv

        if not args.symbol:
            raise UserError("--csv needs --symbol")
        bars = {args.symbol: load_csv(args.csv, args.symbol)}
    elif args.alphavantage:
        from training.market_data import AlphaVantageClient

        bars = {args.alphavantage: AlphaVantageClient().intraday(args.alphavantage, month=args.month)}
    else:
        from training.market_data import synthetic_klines

        symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
        bars = synthetic_klines(symbols, _end(args.end), args.days, args.seed, args.session)
    dynamodb = client("dynamodb")
    for symbol, series in sorted(bars.items()):
        count = load_klines(dynamodb, table, series)
        print(f"{symbol}: {count} bars into {table}", file=sys.stderr)
    return 0


def _run_trades(args: argparse.Namespace) -> int:
    table = args.table or StackConfig.from_environ().require("trades_table")
    count = load_trades(client("dynamodb"), table, read_trades_csv(args.csv))
    print(f"{count} trades into {table}", file=sys.stderr)
    return 0


def _run_accounts(args: argparse.Namespace) -> int:
    from training.market_data import synthetic_klines
    from training.simulate import simulate_accounts

    config = StackConfig.from_environ()
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    end = _end(args.window_end)
    market = synthetic_klines(symbols, end, 2, args.market_seed, args.session)
    accounts = simulate_accounts(market, args.hackers, args.normals, args.seed, end)
    dynamodb = client("dynamodb")
    load_klines(dynamodb, config.require("klines_table"), (b for series in market.values() for b in series))
    count = load_trades(dynamodb, config.require("trades_table"), (t for a in accounts for t in a.trades))
    if args.truth:
        write_truth_csv(args.truth, accounts)
    print(f"{len(accounts)} accounts, {count} trades, klines of {', '.join(symbols)} loaded", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    load = subparsers.add_parser(
        "load",
        help="market data and trades: load klines, trades or simulated accounts into the tables",
        description="Load 5-minute klines (contract 3) or trades (contract 2) into the tables named by "
        "$KLINES_TABLE / $TRADES_TABLE (or --table).",
    )
    kinds = load.add_subparsers(dest="kind", metavar="KIND", required=True)

    klines = kinds.add_parser(
        "klines",
        help="5-minute bars from a CSV, Alpha Vantage or the synthetic generator",
        description="Load 5-minute klines. Sources: --csv FILE --symbol S (columns open_time, open, high, "
        "low, close[, volume]); --alphavantage SYMBOL (key from $ALPHAVANTAGE_API_KEY or the Secrets "
        "Manager secret named by $ALPHAVANTAGE_SECRET_NAME); otherwise synthetic bars.",
        epilog="example: chartguard load klines --symbols BTC-USD,ETH-USD --days 2 --seed 7",
    )
    source = klines.add_mutually_exclusive_group()
    source.add_argument("--csv", type=Path, help="a klines CSV file")
    source.add_argument("--alphavantage", metavar="SYMBOL", help="fetch TIME_SERIES_INTRADAY 5min for SYMBOL")
    klines.add_argument("--symbol", help="the symbol of --csv")
    klines.add_argument("--month", help="with --alphavantage: a past month, YYYY-MM")
    klines.add_argument(
        "--symbols", default="BTC-USD,ETH-USD,SOL-USD", help="synthetic: comma-separated symbols"
    )
    klines.add_argument("--days", type=int, default=2, help="synthetic: days of bars")
    klines.add_argument("--end", help="synthetic: ISO-8601 UTC end (default: now)")
    klines.add_argument("--seed", type=int, default=1, help="synthetic: random seed")
    klines.add_argument(
        "--session", choices=("crypto", "stock"), default="crypto", help="synthetic: 24 h or stock sessions"
    )
    klines.add_argument("--table", help="default: $KLINES_TABLE")
    klines.set_defaults(run=_run_klines)

    trades = kinds.add_parser(
        "trades",
        help="trades from a CSV",
        description=f"Load trades from a CSV with the columns {', '.join(TRADE_CSV_COLUMNS)} "
        "(traded_at ISO-8601 UTC; counterparty_user_id may be empty).",
    )
    trades.add_argument("csv", type=Path)
    trades.add_argument("--table", help="default: $TRADES_TABLE")
    trades.set_defaults(run=_run_trades)

    accounts = kinds.add_parser(
        "accounts",
        help="simulated thieves and customers (and the klines they traded)",
        description="Simulate accounts with the training simulator and load their trades and the klines "
        "of their window; --truth writes the labels for measuring precision and recall.",
        epilog="example: chartguard load accounts --hackers 20 --normals 80 --truth .local/truth.csv",
    )
    accounts.add_argument("--hackers", type=int, default=10)
    accounts.add_argument("--normals", type=int, default=40)
    accounts.add_argument("--seed", type=int, default=1)
    accounts.add_argument("--market-seed", type=int, default=1)
    accounts.add_argument("--symbols", default="BTC-USD,ETH-USD,SOL-USD")
    accounts.add_argument("--session", choices=("crypto", "stock"), default="crypto")
    accounts.add_argument("--window-end", help="ISO-8601 UTC end of the accounts' 24 h (default: now)")
    accounts.add_argument("--truth", type=Path, help="write user_id,label,variant,... to this CSV")
    accounts.set_defaults(run=_run_accounts)

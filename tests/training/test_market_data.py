"""Market data: synthetic klines keep contract 3 and vary by day; CSV and Alpha Vantage parse offline."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from scoring.market import BAR_SECONDS, Kline
from training.market_data import (
    AlphaVantageClient,
    AlphaVantageError,
    load_csv,
    parse_intraday,
    resolve_api_key,
    synthetic_klines,
    write_csv,
)

FIXTURES = Path(__file__).parent / "fixtures"
END = datetime(2026, 11, 1, tzinfo=timezone.utc)


def test_crypto_days_have_288_contiguous_bars_and_regimes_differ():
    bars = synthetic_klines(["BTC-USD"], END, days=30, seed=3)["BTC-USD"]
    assert len(bars) == 30 * 288
    times = np.array([b.open_time for b in bars])
    assert (times % BAR_SECONDS == 0).all() and (np.diff(times) == BAR_SECONDS).all()
    assert times[-1] + BAR_SECONDS == int(END.timestamp())
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars)
    wide_per_day = [sum(b.amplitude > 0.05 for b in bars[d * 288 : (d + 1) * 288]) for d in range(30)]
    assert min(wide_per_day) == 0, "calm days hold no bar above 5% amplitude"
    assert max(wide_per_day) >= 10, "volatile days hold many"


def test_stock_sessions_are_78_bars_on_weekdays_with_gaps():
    bars = synthetic_klines(["COIN"], END, days=14, seed=3, session="stock")["COIN"]
    days = {}
    for bar in bars:
        day = datetime.fromtimestamp(bar.open_time, tz=timezone.utc).date()
        days.setdefault(day, []).append(bar)
    assert len(days) == 10  # two weeks, no weekend sessions
    assert all(len(v) == 78 and d.weekday() < 5 for d, v in days.items())
    gaps = np.diff([b.open_time for b in bars])
    assert (gaps > BAR_SECONDS).sum() == len(days) - 1


def test_synthetic_klines_are_reproducible_and_per_symbol_independent():
    one = synthetic_klines(["BTC-USD", "ETH-USD"], END, 2, seed=9)
    two = synthetic_klines(["BTC-USD", "ETH-USD"], END, 2, seed=9)
    assert one == two
    other = synthetic_klines(["BTC-USD", "ETH-USD"], END, 2, seed=10)
    assert one["BTC-USD"] != other["BTC-USD"]


def test_csv_round_trip_and_iso_times(tmp_path):
    bars = synthetic_klines(["SOL-USD"], END, 1, seed=1)["SOL-USD"][:5]
    path = tmp_path / "sol.csv"
    write_csv(path, bars)
    assert load_csv(path, "SOL-USD") == bars
    iso = tmp_path / "iso.csv"
    iso.write_text(
        "open_time,open,high,low,close\n2026-11-20T14:35:00Z,2,3,1,2\n2026-11-20T14:30:00Z,1,2,1,2\n"
    )
    loaded = load_csv(iso, "X")
    first = int(datetime(2026, 11, 20, 14, 30, tzinfo=timezone.utc).timestamp())
    assert [b.open_time for b in loaded] == [first, first + 300]
    assert loaded[0].volume == 0.0


def test_csv_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("open_time,open,high,low,close,volume\n1795703400,1,2,1,2,5\n1795703401,1,2,1,2,5\n")
    with pytest.raises(ValueError, match=r"bad.csv:3"):
        load_csv(bad, "X")
    missing = tmp_path / "missing.csv"
    missing.write_text("open_time,open,high\n")
    with pytest.raises(ValueError, match="missing column"):
        load_csv(missing, "X")


def test_alpha_vantage_recorded_response_parses_to_utc_bars():
    document = json.loads((FIXTURES / "alphavantage_intraday_5min.json").read_text())
    bars = parse_intraday(document)
    assert [b.symbol for b in bars] == ["COIN"] * 4
    # 09:30 New York in November (EST, UTC-5) is 14:30 UTC
    assert bars[0].open_time == int(datetime(2026, 11, 20, 14, 30, tzinfo=timezone.utc).timestamp())
    assert [b.open_time for b in bars] == sorted(b.open_time for b in bars)
    assert bars[1] == Kline("COIN", bars[0].open_time + 300, 238.1, 251.77, 237.01, 249.0, 998034.0)


@pytest.mark.parametrize("field", ["Note", "Information", "Error Message"])
def test_alpha_vantage_error_bodies_raise(field):
    with pytest.raises(AlphaVantageError, match="Alpha Vantage"):
        parse_intraday({field: "Thank you for using Alpha Vantage! rate limit"})


def test_client_sends_the_intraday_query_and_never_logs_the_key(caplog):
    document = json.loads((FIXTURES / "alphavantage_intraday_5min.json").read_text())
    seen = []

    def replay(url: str, timeout: float):
        seen.append(url)
        return document

    client = AlphaVantageClient("SECRET-KEY-123", fetch_json=replay)
    with caplog.at_level(logging.DEBUG):
        bars = client.intraday("COIN", outputsize="compact")
    assert len(bars) == 4
    assert "function=TIME_SERIES_INTRADAY" in seen[0] and "interval=5min" in seen[0]
    assert "apikey=SECRET-KEY-123" in seen[0]
    assert "SECRET-KEY-123" not in caplog.text and "SECRET-KEY-123" not in repr(client)


def test_key_from_environment_then_secrets_manager():
    assert resolve_api_key({"ALPHAVANTAGE_API_KEY": " k1 "}) == "k1"
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name="chartguard/alphavantage", SecretString=json.dumps({"api_key": "k2"}))
        client.create_secret(Name="plain", SecretString="k3")
        env = {"ALPHAVANTAGE_SECRET_NAME": "chartguard/alphavantage"}
        assert resolve_api_key(env, secrets_client=client) == "k2"
        assert resolve_api_key({}, secret_name="plain", secrets_client=client) == "k3"
    with pytest.raises(AlphaVantageError, match="ALPHAVANTAGE_API_KEY"):
        resolve_api_key({})

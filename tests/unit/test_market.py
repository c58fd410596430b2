"""Contracts 2 and 3: timestamps, keys, item round trips and the window's bars."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from scoring.market import Kline, Trade, bar_open_time, format_utc, parse_utc, window_bar_range

AT = datetime(2025, 11, 15, 9, 7, 3, 456789, tzinfo=timezone.utc)


def test_timestamps_have_milliseconds_and_a_z_and_sort_by_time():
    assert format_utc(AT) == "2025-11-15T09:07:03.456Z"
    assert parse_utc("2025-11-15T09:07:03.456Z") == AT.replace(microsecond=456000)
    earlier, later = format_utc(AT), format_utc(AT + timedelta(milliseconds=1))
    assert earlier < later


@pytest.mark.parametrize("text", ["2025-11-15T09:07:03", "not a time"])
def test_a_timestamp_without_zone_or_form_is_refused(text):
    with pytest.raises(ValueError):
        parse_utc(text)


def test_trade_item_round_trip_and_key():
    trade = Trade("u-1", "t-9", "BTC-USD", "SELL", 30123.45, 0.1, AT, "victim-1")
    item = trade.to_item()
    assert item["trade_key"] == "2025-11-15T09:07:03.456Z#t-9"
    assert str(item["price"]) == "30123.45"
    assert Trade.from_item(item) == Trade(
        "u-1", "t-9", "BTC-USD", "SELL", 30123.45, 0.1, AT.replace(microsecond=456000), "victim-1"
    )


def test_kline_refuses_an_unaligned_bar_and_an_inverted_range():
    with pytest.raises(ValueError, match="multiple of 300"):
        Kline("X", 301, 1, 2, 1, 1)
    with pytest.raises(ValueError, match="low"):
        Kline("X", 300, 1, 1, 2, 1)


def test_window_bars_run_from_the_start_bar_to_the_last_bar_opening_before_the_end():
    end = datetime(2025, 11, 16, tzinfo=timezone.utc)  # on a bar boundary
    first, last = window_bar_range(end - timedelta(hours=24), end)
    assert (last - first) // 300 + 1 == 288 and last == bar_open_time(end) - 300
    unaligned = end + timedelta(minutes=2)
    first, last = window_bar_range(unaligned - timedelta(hours=24), unaligned)
    assert (last - first) // 300 + 1 == 289 and last == bar_open_time(end)

"""The analysts' commands against moto's server over real HTTP.

Given risk records written by the scoring function's own RiskRecorder (evidence PNGs in S3) and
trades and klines in their tables, the commands list, show, export, trace and report them as an
analyst would see them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from datetime import datetime, timedelta, timezone

import pytest

from chartguard import daily_report, record_format, table_reads
from chartguard import trace as tracing
from local.resources import put_items
from scoring.chart import render_chart
from scoring.market import BAR_SECONDS, Kline, Trade, epoch_to_utc, window_bar_range
from scoring.reasons import reasons
from scoring.risk import RiskFlag, RiskRecorder
from scoring.round_trip import named_round_trip_features
from tests.browser import screenshot
from tests.conftest import FUNCTION_ENV

pytestmark = pytest.mark.integration

DAY = "2026-11-20"
WINDOW_END = datetime(2026, 11, 20, 13, 37, tzinfo=timezone.utc)
WINDOW_START = WINDOW_END - timedelta(hours=24)
FIRST_BAR, LAST_BAR = window_bar_range(WINDOW_START, WINDOW_END)
THIEF = "u-thief"
ODD_USER = 'u-<b>"odd"</b>&co'  # must come out escaped in the HTML and intact in CSV/JSON
THIEF_BAR = 100  # index of the volatile bar in which the thief trades
ETH_BAR = 200


def bar_time(index: int, seconds: int = 60) -> datetime:
    return epoch_to_utc(FIRST_BAR + index * BAR_SECONDS + seconds)


def market_bars(
    symbol: str, base: float, volatile: dict[int, tuple[float, float, float, float]]
) -> list[Kline]:
    """A gently waving market over the window, with the given bars (open, high, low, close) replaced."""
    bars = []
    for index in range((LAST_BAR - FIRST_BAR) // BAR_SECONDS + 1):
        mid = round(base * (1 + 0.03 * math.sin(index / 25)), 2)
        o, h, low, c = volatile.get(index, (mid, mid + base * 0.002, mid - base * 0.002, mid + base * 0.001))
        bars.append(Kline(symbol, FIRST_BAR + index * BAR_SECONDS, o, h, low, c, 10.0))
    return bars


BARS = {
    # Fair prices (mid = (high + low) / 2) the trace values are computed from by hand: 100 and 2000.
    "BTC-USD": market_bars(
        "BTC-USD", 100.0, {THIEF_BAR: (100, 110, 90, 104), THIEF_BAR + 1: (104, 106, 94, 99)}
    ),
    "ETH-USD": market_bars("ETH-USD", 2000.0, {ETH_BAR: (2000, 2100, 1900, 2050)}),
}


def thief_trades() -> list[Trade]:
    def trade(n, symbol, side, price, qty, at, counterparty):
        return Trade(THIEF, f"t{n}", symbol, side, price, qty, at, counterparty)

    return [
        # against v-1: buys 2 at 91 and sells 2 at 109 around mid 100: gains 18 + 18; ETH: 0.5 * 50 = 25
        trade(1, "BTC-USD", "BUY", 91.0, 2.0, bar_time(THIEF_BAR, 30), "v-1"),
        trade(2, "BTC-USD", "SELL", 109.0, 2.0, bar_time(THIEF_BAR, 200), "v-1"),
        trade(3, "ETH-USD", "BUY", 1950.0, 0.5, bar_time(ETH_BAR), "v-1"),
        # against v-2: buys 1 at 95 in a bar with mid 100: gains 5
        trade(4, "BTC-USD", "BUY", 95.0, 1.0, bar_time(THIEF_BAR + 1), "v-2"),
        # no counterparty recorded: sells 1 at 99 against mid 100: gives 1 away
        trade(5, "BTC-USD", "SELL", 99.0, 1.0, bar_time(THIEF_BAR, 240), None),
        # outside the window [start, end): never counted
        trade(6, "BTC-USD", "BUY", 50.0, 9.0, WINDOW_START - timedelta(seconds=1), "v-outside"),
        trade(7, "BTC-USD", "BUY", 50.0, 9.0, WINDOW_END, "v-outside"),
    ]


def other_trades(user_id: str) -> list[Trade]:
    return [
        Trade(user_id, "o1", "BTC-USD", "BUY", 99.5, 1.0, bar_time(10), "v-9"),
        Trade(user_id, "o2", "BTC-USD", "SELL", 101.0, 1.0, bar_time(50), "v-9"),
    ]


def flag(user_id, withdrawal_id, score, symbol_scores, trades, *, end=WINDOW_END, amount=None, asset=None):
    inside = [t for t in trades if end - timedelta(hours=24) <= t.traded_at < end]
    first, last = window_bar_range(end - timedelta(hours=24), end)
    # As the function computes them: each symbol's features from its window bars and trades.
    round_trip = {
        symbol: named_round_trip_features(
            [b for b in BARS[symbol] if first <= b.open_time <= last],
            [t for t in inside if t.symbol == symbol],
        )
        for symbol in sorted({t.symbol for t in inside})
        if end == WINDOW_END
    }
    return RiskFlag(
        user_id=user_id,
        withdrawal_id=withdrawal_id,
        requested_at=end,
        scored_at=end + timedelta(seconds=2),
        score=score,
        threshold=0.9,
        symbol_scores=symbol_scores,
        trade_count=len(inside),
        window_start=end - timedelta(hours=24),
        window_end=end,
        endpoint=FUNCTION_ENV["ENDPOINT_NAME"],
        render_version="chart-v1",
        amount=amount,
        asset=asset,
        round_trip=round_trip,
        reasons=tuple(reasons(round_trip, symbol_scores)),
    ), inside


def digest(png: bytes) -> str:
    return hashlib.sha256(png).hexdigest()[:16]


def images(trades: list[Trade]) -> dict[str, bytes]:
    first, last = window_bar_range(WINDOW_START, WINDOW_END)
    return {
        symbol: render_chart(
            [b for b in BARS[symbol] if first <= b.open_time <= last],
            [t for t in trades if t.symbol == symbol],
        )
        for symbol in sorted({t.symbol for t in trades})
    }


@pytest.fixture
def flagged(aws):
    """Three flags on DAY (0.97 thief, 0.95 odd user, 0.93 u-low) and one the day before."""
    dynamodb, s3 = aws["dynamodb"], aws["s3"]
    put_items(dynamodb, FUNCTION_ENV["KLINES_TABLE"], (b.to_item() for bars in BARS.values() for b in bars))
    recorder = RiskRecorder(
        dynamodb=dynamodb,
        s3=s3,
        table_name=FUNCTION_ENV["RISK_TABLE"],
        bucket=FUNCTION_ENV["EVIDENCE_BUCKET"],
    )
    odd = other_trades(ODD_USER)
    low = other_trades("u-low")
    yesterday_end = WINDOW_END - timedelta(days=1)
    early = [Trade("u-early", "e1", "BTC-USD", "BUY", 99.0, 1.0, yesterday_end - timedelta(hours=1), "v-3")]
    everything = thief_trades() + odd + low + early
    put_items(dynamodb, FUNCTION_ENV["TRADES_TABLE"], (t.to_item() for t in everything))

    thief_flag, thief_inside = flag(
        THIEF, "w-1", 0.97, {"BTC-USD": 0.97, "ETH-USD": 0.41}, thief_trades(), amount="1.5", asset="BTC"
    )
    odd_flag, odd_inside = flag(ODD_USER, "w-<2>", 0.95, {"BTC-USD": 0.95}, odd)
    low_flag, low_inside = flag("u-low", "w-3", 0.93, {"BTC-USD": 0.93}, low)
    for one, inside in ((thief_flag, thief_inside), (odd_flag, odd_inside), (low_flag, low_inside)):
        assert recorder.record(one, images(inside))
    early_flag, _ = flag("u-early", "w-0", 0.99, {"BTC-USD": 0.99}, early, end=yesterday_end)
    # The day before: no klines for that window, so its evidence is any valid PNG.
    assert recorder.record(early_flag, {"BTC-USD": images(thief_inside)["BTC-USD"]})
    return aws


def cli(argv: list[str]) -> int:
    """`chartguard ARGV` in this process, as the installed command runs it."""
    from chartguard.cli import main

    return main(argv)


def test_flags_lists_a_day_highest_score_first(flagged, capsys):
    records = table_reads.flags_of_day(flagged["dynamodb"], FUNCTION_ENV["RISK_TABLE"], DAY)
    assert [(r["user_id"], float(r["score"])) for r in records] == [
        (THIEF, 0.97),
        (ODD_USER, 0.95),
        ("u-low", 0.93),
    ]
    assert [
        r["user_id"]
        for r in table_reads.flags_of_day(flagged["dynamodb"], FUNCTION_ENV["RISK_TABLE"], "2026-11-19")
    ] == ["u-early"]
    assert table_reads.flags_of_day(flagged["dynamodb"], FUNCTION_ENV["RISK_TABLE"], "2026-11-21") == []

    assert cli(["flags", "--day", DAY, "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == list(record_format.FLAG_COLUMNS)
    assert [line.split()[:2] for line in lines[2:]] == [["0.9700", THIEF], ["0.9500", ODD_USER.split()[0]]]
    assert "BTC-USD:0.970 ETH-USD:0.410" in lines[2] and "1.5 BTC" in lines[2] and "open" in lines[2]

    assert cli(["flags", "--day", DAY, "--min-score", "0.94", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [r["user_id"] for r in shown] == [THIEF, ODD_USER]
    assert shown[0]["symbol_scores"] == {"BTC-USD": 0.97, "ETH-USD": 0.41} and shown[0]["trade_count"] == 5


def test_show_prints_the_records_and_downloads_the_evidence(flagged, capsys, tmp_path):
    assert cli(["show", THIEF, "--download", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    pngs = images(thief_trades()[:5])
    # evidence/<day>/<user>/<withdrawal>/<requested_at>/<digest of the image>/<symbol>.png
    folder = {s: f"{DAY}/{THIEF}/w-1/2026-11-20T13%3A37%3A00.000Z/{digest(png)}" for s, png in pngs.items()}
    uri = f"s3://{FUNCTION_ENV['EVIDENCE_BUCKET']}/evidence/{folder['BTC-USD']}/BTC-USD.png"
    assert uri in out and "0.97 (threshold 0.9)" in out and "w-1" in out
    # The reasons come right after the score; the features follow as a table, a column per symbol.
    assert re.search(
        r"\nscore .*\nreasons +BTC-USD: 1 round trip \(wide\) inside the window's 10 most volatile bars;"
        r" bought at 7% of the bar's range on average, sold at 70%;"
        r" 84% of the traded value in wide round trips \(value-weighted\)\.\n",
        out,
    )
    assert "ETH-USD: no round trip in 1 trade" in out
    assert re.search(r"round trip\s+feature\s+BTC-USD\s+ETH-USD", out)
    assert re.search(r"\s+round_trip_bars\s+1\s+0\n", out)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert written == sorted(f"{folder[s]}/{s}.png" for s in ("BTC-USD", "ETH-USD"))
    assert (tmp_path / f"{folder['BTC-USD']}/BTC-USD.png").read_bytes() == pngs["BTC-USD"]

    assert cli(["show", ODD_USER, "--withdrawal-id", "w-<2>", "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["user_id"] == ODD_USER and record["withdrawal_id"] == "w-<2>"
    assert cli(["show", "u-nobody"]) == 1
    assert "no risk records of u-nobody" in capsys.readouterr().err


def test_export_writes_every_attribute_of_a_day_range(flagged, tmp_path, capsys):
    out = tmp_path / "flags.csv"
    assert cli(["export", "--from", "2026-11-19", "--to", DAY, "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[: len(record_format.CSV_COLUMNS)] == list(record_format.CSV_COLUMNS)
    assert [r["user_id"] for r in rows] == ["u-early", THIEF, ODD_USER, "u-low"]  # by day, then score
    thief = rows[1]
    assert json.loads(thief["symbol_scores"]) == {"BTC-USD": 0.97, "ETH-USD": 0.41}
    assert thief["score"] == "0.97" and thief["trade_count"] == "5" and thief["day"] == DAY
    assert thief["amount"] == "1.5" and thief["asset"] == "BTC" and thief["status"] == "open"
    assert len(json.loads(thief["evidence"])) == 2 and thief["event_key"] == "2026-11-20T13:37:00.000Z#w-1"
    assert json.loads(thief["reasons"])[0].startswith("BTC-USD: 1 round trip (wide)")
    assert json.loads(thief["round_trip"])["BTC-USD"]["round_trip_bars"] == 1
    assert rows[0]["reasons"] == "" and rows[0]["round_trip"] == ""  # a flag written without them

    assert cli(["export", "--day", DAY, "--out", "-"]) == 0
    assert len(list(csv.DictReader(io.StringIO(capsys.readouterr().out)))) == 3
    assert cli(["export", "--day", DAY, "--out", str(tmp_path / "no-such-dir" / "f.csv")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_trace_values_each_counterparty_against_the_bar_mid(flagged, capsys):
    (record,) = table_reads.records_of_user(flagged["dynamodb"], FUNCTION_ENV["RISK_TABLE"], THIEF)
    trace = tracing.trace_record(
        flagged["dynamodb"],
        record,
        trades_table=FUNCTION_ENV["TRADES_TABLE"],
        klines_table=FUNCTION_ENV["KLINES_TABLE"],
    )
    # By hand: v-1 = (100-91)*2 + (109-100)*2 + (2000-1950)*0.5 = 61; v-2 = (100-95)*1 = 5;
    # unknown = (99-100)*1 = -1. The two trades outside [start, end) are not there.
    assert [(f.counterparty, f.trades, pytest.approx(f.value_moved)) for f in trace.flows] == [
        ("v-1", 3, 61.0),
        ("v-2", 1, 5.0),
        ("(unknown)", 1, -1.0),
    ]
    btc = trace.flows[0].legs["BTC-USD"]
    assert (btc.bought_qty, btc.bought_notional, btc.sold_qty, btc.sold_notional) == (2.0, 182.0, 2.0, 218.0)
    assert trace.unpriced == 0 and trace.trade_count == record["trade_count"]

    assert cli(["trace", THIEF, "--json"]) == 0
    (as_json,) = json.loads(capsys.readouterr().out)
    assert [(c["counterparty"], c["value_moved"]) for c in as_json["counterparties"]] == [
        ("v-1", 61.0),
        ("v-2", 5.0),
        ("(unknown)", -1.0),
    ]
    assert cli(["trace", THIEF, "--day", DAY]) == 0
    text = capsys.readouterr().out
    assert text.index("v-1") < text.index("v-2") < text.index("(unknown)")
    assert "61.00" in text and "(mid - p) * qty" in text
    assert cli(["trace", THIEF, "--withdrawal-id", "w-missing"]) == 2
    assert "no risk record of u-thief matches" in capsys.readouterr().err


def test_report_shows_each_flag_with_two_images_per_symbol(flagged, tmp_path):
    out = tmp_path / "report.html"
    count = daily_report.write_report(
        flagged["dynamodb"],
        flagged["s3"],
        risk_table=FUNCTION_ENV["RISK_TABLE"],
        trades_table=FUNCTION_ENV["TRADES_TABLE"],
        klines_table=FUNCTION_ENV["KLINES_TABLE"],
        day=DAY,
        out=out,
    )
    document = out.read_text(encoding="utf-8")
    assert count == 3
    sections = re.findall(r'<section class="card" id="flag-\d+">.*?</section>', document, re.S)
    assert len(sections) == 3
    # Highest first; the odd user id is escaped, never raw markup.
    assert THIEF in sections[0] and "u-&lt;b&gt;&quot;odd&quot;&lt;/b&gt;&amp;co" in sections[1]
    assert "u-low" in sections[2] and ODD_USER not in document and "w-&lt;2&gt;" in document
    # The image the model saw beside the chart for people: two images per symbol.
    assert [s.count('src="data:image/png;base64,') for s in sections] == [4, 2, 2]
    assert document.count('<img class="model"') == 4 and document.count('<img class="human"') == 4
    # Self-contained: no external reference of any kind.
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", document) and "<script" not in document
    assert "v-1" in sections[0] and "61.00" in sections[0] and "v-9" in sections[2]  # v-1 total
    # The reasons first, and each symbol's features under the image the model saw.
    assert sections[0].index('class="reasons"') < sections[0].index('<img class="model"')
    assert "BTC-USD: 1 round trip (wide) inside the window&#x27;s 10 most volatile bars" in sections[0]
    assert [s.count('<table class="features">') for s in sections] == [2, 1, 1]


def test_report_renders_in_headless_chromium(flagged, tmp_path):
    from PIL import Image

    out = tmp_path / "report.html"
    daily_report.write_report(
        flagged["dynamodb"],
        flagged["s3"],
        risk_table=FUNCTION_ENV["RISK_TABLE"],
        trades_table=FUNCTION_ENV["TRADES_TABLE"],
        klines_table=FUNCTION_ENV["KLINES_TABLE"],
        day=DAY,
        out=out,
    )
    shot = screenshot(out, tmp_path, height=2000, timeout=60)
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (1280, 2000)
        colours = rgb.getcolors(maxcolors=1 << 20)
        header = rgb.getpixel((5, 5))
    assert colours is None or len(colours) > 50, "the screenshot is blank"
    # The inline stylesheet applied: the page header's dark band (#1f2937) is at the top.
    assert header == (0x1F, 0x29, 0x37), header
    # The reasons' box (#fff7ed) is drawn above the first flag's images.
    assert colours is not None and any(count > 1000 and c == (0xFF, 0xF7, 0xED) for count, c in colours)


def test_a_table_that_does_not_exist_is_one_line_and_exit_status_2(aws, monkeypatch, capsys):
    monkeypatch.setenv("RISK_TABLE", "no-such-table")
    assert cli(["flags", "--day", DAY]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chartguard flags: query no-such-table index by-day") and "ResourceNotFound" in err
    assert "Traceback" not in err

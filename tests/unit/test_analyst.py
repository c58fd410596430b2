"""The analysts' pure logic: trace arithmetic, CSV flattening, HTML escaping, safe paths. No network."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from chartguard import analyst, evidence, human_chart, record_format, report, table_reads, trace
from chartguard.stack_access import UserError
from scoring.market import Kline, Trade, epoch_to_utc

T0 = 1_763_640_000  # a multiple of 300
START = epoch_to_utc(T0)
END = START + timedelta(hours=24)


def at(bar: int, seconds: int = 30) -> datetime:
    return epoch_to_utc(T0 + bar * 300 + seconds)


def trade(
    n: int, side: str, price: float, qty: float, bar: int = 0, counterparty=None, symbol="BTC-USD"
) -> Trade:
    return Trade("u-thief", f"t{n}", symbol, side, price, qty, at(bar), counterparty)  # type: ignore[arg-type]


BARS = {
    "BTC-USD": [Kline("BTC-USD", T0, 100, 110, 90, 104), Kline("BTC-USD", T0 + 300, 104, 108, 96, 97)],
    "ETH-USD": [Kline("ETH-USD", T0, 2000, 2100, 1900, 2050)],
}


# --- trace arithmetic ------------------------------------------------------------------------------


def test_a_buy_below_and_a_sell_above_the_bar_mid_are_gains():
    # mid of (110, 90) is 100: buying 2 at 91 gains 18, selling 3 at 104 gains 12, buying at 105 loses 5
    assert trace.fair_price(BARS["BTC-USD"][0]) == 100
    assert trace.trade_gain(trade(1, "BUY", 91, 2), 100) == 18
    assert trace.trade_gain(trade(2, "SELL", 104, 3), 100) == 12
    assert trace.trade_gain(trade(3, "BUY", 105, 1), 100) == -5


def test_counterparties_are_grouped_valued_and_sorted_victims_first():
    trades = [
        trade(1, "BUY", 91, 2, counterparty="v-1"),  # +18
        trade(2, "SELL", 109, 2, counterparty="v-1"),  # +18
        trade(3, "BUY", 1950, 0.5, counterparty="v-1", symbol="ETH-USD"),  # +25
        trade(4, "BUY", 98, 1, bar=1, counterparty="v-2"),  # mid 102: +4
        trade(5, "SELL", 99, 1),  # no counterparty: -1
        trade(6, "SELL", 101, 1, counterparty="v-3"),  # +1
    ]
    flows = trace.counterparty_flows(trades, BARS)
    assert [(f.counterparty, f.trades, f.value_moved) for f in flows] == [
        ("v-1", 3, 61.0),
        ("v-2", 1, 4.0),
        ("v-3", 1, 1.0),
        (trace.UNKNOWN_COUNTERPARTY, 1, -1.0),
    ]
    v1 = flows[0]
    btc = v1.legs["BTC-USD"]
    assert (btc.trades, btc.bought_qty, btc.bought_notional, btc.sold_qty, btc.sold_notional) == (
        2,
        2,
        182,
        2,
        218,
    )
    assert (v1.bought_notional, v1.sold_notional) == (182 + 975, 218)
    assert [leg.symbol for leg in v1.sorted_legs()] == ["BTC-USD", "ETH-USD"]  # 36 before 25


def test_a_trade_in_a_missing_bar_is_counted_but_not_valued():
    flows = trace.counterparty_flows([trade(1, "BUY", 50, 1, bar=7, counterparty="v-1")], BARS)
    (flow,) = flows
    assert (flow.trades, flow.value_moved, flow.unpriced) == (1, 0.0, 1)
    text = trace.trace_text(trace.Trace("u-thief", "w-1", START, END, flows))
    assert "0.00*" in text and "1 trade(s) in bars missing" in text


def test_the_window_is_half_open_and_the_json_rounds_float_noise():
    trades = [
        trade(1, "BUY", 99.9, 3, counterparty="v-1"),  # 0.1 * 3 = 0.30000000000000426 in floats
        Trade("u-thief", "early", "BTC-USD", "BUY", 1, 1, START - timedelta(milliseconds=1), "v-x"),
        Trade("u-thief", "late", "BTC-USD", "BUY", 1, 1, END, "v-x"),
        Trade("u-thief", "first", "BTC-USD", "SELL", 100, 1, START, "v-2"),
    ]
    result = trace.trace_window(
        user_id="u-thief",
        withdrawal_id="w-1",
        window_start=START,
        window_end=END,
        trades=trades,
        bars_by_symbol=BARS,
    )
    as_json = trace.trace_as_json(result)
    assert [c["counterparty"] for c in as_json["counterparties"]] == ["v-1", "v-2"]
    assert as_json["counterparties"][0]["value_moved"] == 0.3 and as_json["trade_count"] == 2
    assert as_json["counterparties"][1]["value_moved"] == 0.0 and "(mid - p) * qty" in as_json["rule"]


def test_trace_rows_add_a_total_for_a_counterparty_in_several_symbols():
    trades = [
        trade(1, "BUY", 91, 2, counterparty="v-1"),
        trade(2, "BUY", 1950, 0.5, counterparty="v-1", symbol="ETH-USD"),
    ]
    rows = trace.trace_rows(trace.Trace("u", "w", START, END, trace.counterparty_flows(trades, BARS)))
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("v-1", "25.00", "ETH-USD"),
        ("v-1", "18.00", "BTC-USD"),
        ("v-1", "43.00", "total"),
    ]


def test_money_keeps_small_prices_readable():
    assert (
        trace.money(1234.5) == "1,234.50" and trace.money(0.000123) == "0.000123" and trace.money(0) == "0.00"
    )


# --- reading the risk table ------------------------------------------------------------------------


class PagedDynamoDB:
    """Answers Query with fixed pages, as DynamoDB does past 1 MB or past Limit."""

    def __init__(self, pages: list[list[str]]):
        self.pages = pages
        self.queries: list[dict] = []

    def query(self, **request):
        self.queries.append(dict(request))
        index = int(request.get("ExclusiveStartKey", {}).get("page", {}).get("N", "0"))
        items = [{"user_id": {"S": u}, "score": {"N": "0.95"}} for u in self.pages[index]]
        page = {"Items": items[: request.get("Limit", len(items))]}
        if index + 1 < len(self.pages):
            page["LastEvaluatedKey"] = {"page": {"N": str(index + 1)}}
        return page


def test_flags_follow_every_page_of_the_by_day_index_highest_first():
    dynamodb = PagedDynamoDB([["u-1", "u-2"], ["u-3"], ["u-4"]])
    records = table_reads.flags_of_day(dynamodb, "risk", "2026-11-20", min_score=0.95)
    assert [r["user_id"] for r in records] == ["u-1", "u-2", "u-3", "u-4"] and records[0]["score"] == Decimal(
        "0.95"
    )
    first = dynamodb.queries[0]
    assert first["IndexName"] == "by-day" and first["ScanIndexForward"] is False
    assert first["KeyConditionExpression"] == "#day = :day AND #score >= :min"
    assert first["ExpressionAttributeValues"][":min"] == {"N": "0.95"}
    assert [q.get("ExclusiveStartKey") for q in dynamodb.queries] == [
        None,
        {"page": {"N": "1"}},
        {"page": {"N": "2"}},
    ]


def test_a_limit_stops_reading_pages():
    dynamodb = PagedDynamoDB([["u-1", "u-2"], ["u-3", "u-4"], ["u-5"]])
    records = table_reads.flags_of_day(dynamodb, "risk", "2026-11-20", limit=3)
    assert [r["user_id"] for r in records] == ["u-1", "u-2", "u-3"]
    assert [q["Limit"] for q in dynamodb.queries] == [3, 1]


# --- plain values, table, CSV ------------------------------------------------------------------------


RECORD = {
    "user_id": "u-1",
    "event_key": "2026-11-20T13:37:00.000Z#w-1",
    "withdrawal_id": "w-1",
    "requested_at": "2026-11-20T13:37:00.000Z",
    "day": "2026-11-20",
    "score": Decimal("0.97"),
    "threshold": Decimal("0.9"),
    "symbol_scores": {"ETH-USD": Decimal("0.41"), "BTC-USD": Decimal("0.97")},
    "trade_count": Decimal("5"),
    "window_start": "2026-11-19T13:37:00.000Z",
    "window_end": "2026-11-20T13:37:00.000Z",
    "scored_at": "2026-11-20T13:37:02.000Z",
    "endpoint": "chart-classifier",
    "render_version": "chart-v1",
    "detector": "chart-classifier",
    "status": "open",
    "evidence": [
        "s3://b/evidence/2026-11-20/u-1/w-1/BTC-USD.png",
        "s3://b/evidence/2026-11-20/u-1/w-1/ETH-USD.png",
    ],
    "asset": '=HYPERLINK("http://x")',
    "sqs_message_id": "m-1",
}


def test_plain_turns_dynamodb_values_into_json_ready_ones():
    assert record_format.plain(RECORD)["trade_count"] == 5 and record_format.plain(RECORD)["score"] == 0.97
    assert record_format.plain({"s": {"b", "a"}, "n": [Decimal("1.50")]}) == {"s": ["a", "b"], "n": [1.5]}


def test_csv_has_contract_4_columns_first_then_extras_and_json_for_maps():
    out = io.StringIO()
    assert record_format.write_csv([RECORD, {**RECORD, "user_id": "u-2", "reviewer": "ana"}], out) == 2
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == [*record_format.CSV_COLUMNS, "reviewer", "sqs_message_id"]
    first = dict(zip(rows[0], rows[1]))
    assert json.loads(first["symbol_scores"]) == {"BTC-USD": 0.97, "ETH-USD": 0.41}
    assert json.loads(first["evidence"]) == RECORD["evidence"]
    assert (
        first["score"] == "0.97"
        and first["trade_count"] == "5"
        and first["amount"] == ""
        and first["reviewer"] == ""
    )
    assert first["asset"].startswith("'=HYPERLINK")  # defused for spreadsheets
    assert dict(zip(rows[0], rows[2]))["reviewer"] == "ana"


def test_csv_cells_keep_numbers_exact_and_negative_numbers_as_numbers():
    assert (
        record_format.csv_cell(Decimal("1E+3")) == "1000"
        and record_format.csv_cell(Decimal("-2.5")) == "-2.5"
    )
    assert (
        record_format.csv_cell(None) == ""
        and record_format.csv_cell("-rm") == "'-rm"
        and record_format.csv_cell("ok") == "ok"
    )


def test_flags_table_is_aligned_and_terminal_safe():
    text = record_format.flags_table(
        [RECORD, {**RECORD, "user_id": "u-\x1b[31mred", "score": Decimal("0.9123")}]
    )
    lines = text.splitlines()
    assert lines[0].split() == list(record_format.FLAG_COLUMNS)
    assert lines[2].startswith("0.9700  u-1") and "BTC-USD:0.970 ETH-USD:0.410" in lines[2]
    assert "\x1b" not in text and "u-\ufffd[31mred" in lines[3]
    assert lines[2].index("w-1") == lines[0].index("WITHDRAWAL") == lines[3].index("w-1")


def test_show_text_lists_every_evidence_uri_and_unknown_attributes():
    text = record_format.record_text(RECORD)
    assert all(uri in text for uri in RECORD["evidence"]) and 'sqs_message_id  "m-1"' in text


def test_days_between_is_inclusive_and_bounded():
    assert table_reads.days_between("2026-11-30", "2026-12-02") == ["2026-11-30", "2026-12-01", "2026-12-02"]
    with pytest.raises(UserError, match="before"):
        table_reads.days_between("2026-12-02", "2026-11-30")
    with pytest.raises(UserError, match="at most"):
        table_reads.days_between("2020-01-01", "2026-01-01")


# --- evidence URIs and downloads -----------------------------------------------------------------------


def test_evidence_uris_map_to_symbols_and_safe_paths(tmp_path: Path):
    uri = "s3://bucket/evidence/2026-11-20/u%2F..%2Fx/w-1/BTC%2FUSD.png"
    assert evidence.parse_s3_uri(uri) == ("bucket", "evidence/2026-11-20/u%2F..%2Fx/w-1/BTC%2FUSD.png")
    assert evidence.evidence_symbol(uri) == "BTC/USD"
    assert (
        evidence.download_path(tmp_path, uri)
        == tmp_path / "2026-11-20" / "u%2F..%2Fx" / "w-1" / "BTC%2FUSD.png"
    )
    climbing = evidence.download_path(tmp_path, "s3://bucket/evidence/../../etc/passwd")
    assert climbing == tmp_path / "_" / "_" / "etc" / "passwd"
    with pytest.raises(ValueError):
        evidence.parse_s3_uri("https://bucket/key")


# --- HTML ------------------------------------------------------------------------------------------------


def test_report_html_escapes_every_piece_of_data_and_inlines_images():
    nasty = '<img src=x onerror="alert(1)">'
    record = {**RECORD, "user_id": nasty, "withdrawal_id": "w-'1'", "asset": "<b>BTC</b>"}
    png = b"\x89PNG fake"
    flows = trace.counterparty_flows([trade(1, "BUY", 91, 2, counterparty="<script>v</script>")], BARS)
    entry = report.ReportEntry(
        record=record,
        panels=[report.SymbolPanel("BTC-USD", 0.97, RECORD["evidence"][0], png, png, ["note <i>"])],
        trace=trace.Trace(nasty, "w-'1'", START, END, flows),
    )
    document = report.build_report_html(
        title="flags <of> day",
        subtitle="s & s",
        entries=[entry],
        generated_at=datetime(2026, 11, 22, tzinfo=timezone.utc),
    )
    assert nasty not in document and "<script>v" not in document and "<b>BTC" not in document
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in document and "w-&#x27;1&#x27;" in document
    assert "&lt;script&gt;v&lt;/script&gt;" in document and "note &lt;i&gt;" in document
    assert "flags &lt;of&gt; day" in document and document.count("data:image/png;base64,") == 2
    assert "<script" not in document


def test_report_html_says_what_is_missing_instead_of_failing():
    entry = report.ReportEntry(
        record=RECORD,
        panels=[report.SymbolPanel("ETH-USD", 0.41, None)],
        trace_problem="trades and klines could not be read: boom",
    )
    document = report.build_report_html(title="t", subtitle="s", entries=[entry], generated_at=END)
    assert "evidence image not available" in document and "no chart" in document and "boom" in document
    empty = report.build_report_html(title="t", subtitle="s", entries=[], generated_at=END)
    assert "No flags" in empty


def test_the_zoom_finds_the_two_busiest_hours():
    trades = [trade(n, "BUY", 100, 1, bar=b) for n, b in enumerate([0, 40, 41, 42, 60, 100])]
    first, last = human_chart.busiest_span(trades)
    assert (first, last) == (at(40), at(60))  # 40..60 is 20 bars = 100 min: 4 trades
    assert human_chart.busiest_span(trades[:1]) == (at(0), at(0))


def test_human_chart_is_a_png_of_the_promised_size():
    from PIL import Image

    png = human_chart.render_human_chart(
        "BTC-USD",
        BARS["BTC-USD"],
        [trade(1, "BUY", 91, 2), trade(2, "SELL", 109, 2)],
        window_start=START,
        window_end=at(2, 0),
    )
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.size == human_chart.HUMAN_CHART_SIZE_PX
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or range(999)) > 20


# --- the command line --------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="chartguard")
    analyst.register(root.add_subparsers(dest="command", required=True))
    return root


@pytest.mark.parametrize("command", ["flags", "show", "export", "report", "trace"])
def test_every_subcommand_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and f"chartguard {command}" in text


def test_a_bad_day_is_refused_by_argparse(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["flags", "--day", "20-11-2026"])
    assert "not a day as YYYY-MM-DD" in capsys.readouterr().err


def test_trace_help_states_the_rule(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["trace", "--help"])
    text = capsys.readouterr().out
    assert "BUY  at price p, quantity q: (mid - p) * q" in text and "(high + low) / 2" in text


def test_missing_configuration_is_a_user_error(monkeypatch):
    monkeypatch.delenv("RISK_TABLE", raising=False)
    args = parser().parse_args(["flags", "--day", "2026-11-20"])
    with pytest.raises(UserError, match="RISK_TABLE is not set"):
        args.run(args)
    args = parser().parse_args(["export", "--out", "x.csv"])
    with pytest.raises(UserError, match="--day D, or --from"):
        args.run(args)

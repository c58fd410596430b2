"""The decision (render, score, compare with the threshold, record) with fakes: no AWS, no network."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from scoring.chart import RENDER_VERSION, decode_png, render_chart
from scoring.decision import (
    ALREADY_FLAGGED,
    BELOW_THRESHOLD,
    FLAGGED,
    NO_ACTIVITY,
    Withdrawal,
    score_withdrawal,
)
from scoring.errors import MissingMarketData, RetryLater
from scoring.market import Kline, Trade, bar_open_time
from scoring.reasons import reasons
from scoring.round_trip import FEATURE_NAMES
from tests.unit.fakes import FakeKlines, FakePredictor, FakeRecorder, FakeTrades

END = datetime(2025, 11, 16, 0, 0, tzinfo=timezone.utc)
START = END - timedelta(hours=24)


def day_of_bars(symbol: str, base: float) -> list[Kline]:
    first = bar_open_time(START)
    return [Kline(symbol, first + i * 300, base, base * 1.01, base * 0.99, base) for i in range(289)]


MARKET = {"BTC-USD": day_of_bars("BTC-USD", 30_000.0), "ETH-USD": day_of_bars("ETH-USD", 2_000.0)}


def trade(
    n: int, symbol: str, side: str, price: float, minutes_before_end: float, user: str = "u-1"
) -> Trade:
    at = END - timedelta(minutes=minutes_before_end)
    return Trade(user, f"t-{n}", symbol, side, price, 0.5, at, counterparty_user_id=f"victim-{n % 2}")  # type: ignore[arg-type]


TRADES = [
    trade(1, "BTC-USD", "BUY", 29_800, 600),
    trade(2, "BTC-USD", "SELL", 30_250, 598),
    trade(3, "ETH-USD", "BUY", 1_985, 300),
    trade(4, "ETH-USD", "SELL", 2_015, 299),
    trade(5, "BTC-USD", "BUY", 29_900, 60 * 25),  # outside the 24 h window
]


def score_by_symbol(scores: dict[str, float]):
    """A predictor that answers per symbol, recognising the image by rendering it the same way."""
    images = {
        render_chart(
            FakeKlines(MARKET).bars_in_window(s, START, END),
            [t for t in TRADES if t.symbol == s and START <= t.traded_at < END],
        ): p
        for s, p in scores.items()
    }
    return lambda png: images[png]


def run(predictor, recorder=None, trades=TRADES, market=MARKET, threshold=0.9):
    return score_withdrawal(
        Withdrawal("u-1", "w-1", END, amount="1.5", asset="BTC", message_id="m-1"),
        trades=FakeTrades(trades),
        klines=FakeKlines(market),
        predictor=predictor,
        recorder=recorder or FakeRecorder(),
        threshold=threshold,
        window_hours=24,
        clock=lambda: END + timedelta(seconds=3),
    )


def test_no_trades_in_the_window_is_no_activity_and_nothing_is_scored_or_written():
    predictor, recorder = FakePredictor(lambda png: 1.0), FakeRecorder()
    verdict = run(predictor, recorder, trades=[trade(9, "BTC-USD", "BUY", 30_000, 60 * 30)])
    assert verdict.outcome == NO_ACTIVITY and verdict.score is None
    assert predictor.images == [] and recorder.flags == {}


def test_window_is_the_24_hours_ending_at_the_request():
    # Half-open [end - 24 h, end): the bar opening at `end` belongs to the next window.
    trades = FakeTrades(TRADES)
    score_withdrawal(
        Withdrawal("u-1", "w-1", END),
        trades=trades,
        klines=FakeKlines(MARKET),
        predictor=FakePredictor(score_by_symbol({"BTC-USD": 0.1, "ETH-USD": 0.2})),
        recorder=FakeRecorder(),
        threshold=0.9,
        window_hours=24,
    )
    assert trades.windows == [("u-1", START, END)]


def test_one_image_per_symbol_and_the_score_is_the_maximum():
    predictor, recorder = FakePredictor(score_by_symbol({"BTC-USD": 0.97, "ETH-USD": 0.12})), FakeRecorder()
    verdict = run(predictor, recorder)
    assert len(predictor.images) == 2
    assert all(decode_png(png).shape == (150, 250, 3) for png in predictor.images)
    assert verdict.outcome == FLAGGED
    assert verdict.score == 0.97 and verdict.symbol_scores == {"BTC-USD": 0.97, "ETH-USD": 0.12}
    assert verdict.trade_count == 4


def test_flag_carries_the_window_scores_and_the_images_that_were_scored():
    predictor, recorder = FakePredictor(score_by_symbol({"BTC-USD": 0.2, "ETH-USD": 0.95})), FakeRecorder()
    run(predictor, recorder)
    ((key, flag),) = recorder.flags.items()
    assert key == ("u-1", "2025-11-16T00:00:00.000Z#w-1")
    assert (flag.window_start, flag.window_end, flag.requested_at) == (START, END, END)
    assert flag.score == 0.95 and flag.threshold == 0.9 and flag.render_version == RENDER_VERSION
    assert flag.endpoint == "fake-endpoint" and flag.amount == "1.5" and flag.asset == "BTC"
    assert flag.counterparties == ("victim-0", "victim-1")
    assert sorted(recorder.images[key]) == ["BTC-USD", "ETH-USD"]
    assert set(recorder.images[key].values()) == set(predictor.images)


@pytest.mark.parametrize(
    ("score", "outcome"),
    [(0.9, BELOW_THRESHOLD), (0.8999999, BELOW_THRESHOLD), (0.9000001, FLAGGED), (1.0, FLAGGED)],
)
def test_only_a_score_above_the_threshold_is_flagged(score, outcome):
    recorder = FakeRecorder()
    verdict = run(FakePredictor(score_by_symbol({"BTC-USD": score, "ETH-USD": 0.0})), recorder)
    assert verdict.outcome == outcome
    assert len(recorder.flags) == (1 if outcome == FLAGGED else 0)


def test_a_redelivered_withdrawal_is_recorded_once():
    recorder = FakeRecorder()
    scores = {"BTC-USD": 0.99, "ETH-USD": 0.5}
    assert run(FakePredictor(score_by_symbol(scores)), recorder).outcome == FLAGGED
    assert run(FakePredictor(score_by_symbol(scores)), recorder).outcome == ALREADY_FLAGGED
    assert len(recorder.flags) == 1


def test_a_symbol_without_klines_is_never_judged_clean():
    predictor, recorder = FakePredictor(lambda png: 0.0), FakeRecorder()
    with pytest.raises(MissingMarketData, match="ETH-USD: no 5-minute klines"):
        run(predictor, recorder, market={"BTC-USD": MARKET["BTC-USD"]})
    assert predictor.images == [] and recorder.flags == {}


def test_a_trade_in_a_missing_bar_is_missing_market_data():
    holey = {
        s: [b for b in bars if b.open_time != bar_open_time(END - timedelta(minutes=300))]
        for s, bars in MARKET.items()
    }
    with pytest.raises(MissingMarketData, match="ETH-USD: no kline for the bar"):
        run(FakePredictor(lambda png: 0.0), FakeRecorder(), market=holey)


def test_an_endpoint_failure_writes_nothing_and_propagates_for_a_retry():
    recorder = FakeRecorder()
    with pytest.raises(RetryLater):
        run(FakePredictor(lambda png: 0.99, fail=RetryLater("throttled")), recorder)
    assert recorder.flags == {}


def test_stage_timings_are_measured():
    verdict = run(FakePredictor(score_by_symbol({"BTC-USD": 0.99, "ETH-USD": 0.1})))
    assert set(verdict.timings_ms) == {"query", "render", "features", "endpoint", "write"}
    assert verdict.timings_ms["render"] > 0


class FusingFake(FakePredictor):
    """An endpoint whose artifact carries the round-trip model: records the features it was sent."""

    fuses = True
    detector = "chart+round-trip"

    def __init__(self, score):
        super().__init__(score)
        self.features: list[dict[str, float]] = []

    def score(self, png, round_trip):
        from scoring.endpoint import EndpointScore

        self.features.append(dict(round_trip))
        p = self.hacker_probability(png)
        return EndpointScore(p, {"chart": p, "round_trip": 0.5})


def test_a_fusing_endpoint_gets_each_symbols_round_trip_features_and_the_flag_keeps_both_parts():
    from scoring.round_trip import FEATURE_NAMES, round_trip_features

    predictor, recorder = FusingFake(score_by_symbol({"BTC-USD": 0.2, "ETH-USD": 0.95})), FakeRecorder()
    run(predictor, recorder)
    eth = [t for t in TRADES if t.symbol == "ETH-USD"]
    expected = dict(
        zip(FEATURE_NAMES, round_trip_features(FakeKlines(MARKET).bars_in_window("ETH-USD", START, END), eth))
    )
    assert expected in predictor.features and len(predictor.features) == 2
    ((_, flag),) = recorder.flags.items()
    assert flag.detector == "chart+round-trip"
    assert flag.components == {
        "BTC-USD": {"chart": 0.2, "round_trip": 0.5},
        "ETH-USD": {"chart": 0.95, "round_trip": 0.5},
    }


def test_an_endpoint_that_does_not_fuse_leaves_the_detector_and_no_components():
    recorder = FakeRecorder()
    run(FakePredictor(score_by_symbol({"BTC-USD": 0.2, "ETH-USD": 0.95})), recorder)
    ((_, flag),) = recorder.flags.items()
    assert flag.detector == "chart-classifier" and flag.components is None


def test_a_flagged_record_carries_each_symbols_round_trip_features_and_the_reasons():
    recorder = FakeRecorder()
    scores = {"BTC-USD": 0.2, "ETH-USD": 0.95}
    verdict = run(FakePredictor(score_by_symbol(scores)), recorder)
    ((flag,),) = [list(recorder.flags.values())]
    assert set(flag.round_trip) == {"BTC-USD", "ETH-USD"}
    assert all(list(f) == list(FEATURE_NAMES) for f in flag.round_trip.values())
    btc = flag.round_trip["BTC-USD"]
    # A buy at 29,800 and a sell at 30,250 in one bar of low 29,700 and high 30,300.
    assert btc["n_trades"] == 2 and btc["round_trip_bars"] == 1 and btc["wide_round_trips"] == 1
    assert btc["mean_buy_position"] == pytest.approx(100 / 600)
    assert btc["mean_sell_position"] == pytest.approx(550 / 600)
    assert flag.round_trip["ETH-USD"]["mean_sell_position"] == pytest.approx(35 / 40)
    assert flag.reasons == tuple(reasons(flag.round_trip, scores))
    assert flag.reasons[0].startswith("ETH-USD: 1 round trip (wide)")  # the symbol that decided first
    assert verdict.round_trip == flag.round_trip


def test_a_clean_withdrawal_has_its_features_for_the_log_and_writes_nothing():
    recorder = FakeRecorder()
    verdict = run(FakePredictor(score_by_symbol({"BTC-USD": 0.3, "ETH-USD": 0.1})), recorder)
    assert verdict.outcome == BELOW_THRESHOLD and recorder.flags == {}
    assert set(verdict.round_trip) == {"BTC-USD", "ETH-USD"}
    assert verdict.round_trip["ETH-USD"]["n_trades"] == 2


def test_the_features_use_the_bars_read_again_when_the_cached_ones_lacked_a_bar():
    class StaleFirst(FakeKlines):
        def bars_in_window(self, symbol, start, end, fresh=False):
            bars = super().bars_in_window(symbol, start, end, fresh)
            return bars if fresh else bars[:10]  # the cache holds only the window's first bars

    recorder = FakeRecorder()
    score_withdrawal(
        Withdrawal("u-1", "w-1", END),
        trades=FakeTrades(TRADES),
        klines=StaleFirst(MARKET),
        predictor=FakePredictor(score_by_symbol({"BTC-USD": 0.99, "ETH-USD": 0.1})),
        recorder=recorder,
        threshold=0.9,
        window_hours=24,
    )
    ((flag,),) = [list(recorder.flags.values())]
    assert flag.round_trip["BTC-USD"]["round_trip_bars"] == 1

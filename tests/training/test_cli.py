"""`python -m training train`: which recipe its flags give."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from training.__main__ import build_parser, train_config
from training.dataset import DEFAULT_SEED
from training.pipeline import PROFILES
from training.train import THREADS_ENV, TrainConfig

BASE = ["train", "--dataset", "d", "--out", "o"]


def config_of(*flags: str) -> TrainConfig:
    return train_config(build_parser().parse_args([*BASE, *flags]), progress=False)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_profile_gives_the_recipe_make_model_trains(profile, monkeypatch, tmp_path):
    import training.pipeline as pipeline

    class Trained(Exception):
        pass

    def train(dataset_dir, out_dir, config):  # what build_model hands the trainer, then stop
        raise Trained(config)

    def build_dataset(out_dir, *args, **kwargs):
        out_dir.mkdir(parents=True)
        return {}

    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.setattr(pipeline, "build_dataset", build_dataset)
    monkeypatch.setattr(pipeline, "train", train)
    with pytest.raises(Trained) as built:
        pipeline.build_model(tmp_path / "model", profile, progress=False)
    config = config_of("--profile", profile)
    assert config == built.value.args[0]
    for key, value in PROFILES[profile]["train"].items():
        assert getattr(config, key) == value, key
    assert config.threads == PROFILES[profile].get("threads", 1)


def test_flags_given_override_the_profile(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    config = config_of("--profile", "default", "--hacker-weight", "1", "--no-flip-time", "--epochs", "4")
    recipe = {**PROFILES["default"]["train"], "hacker_weight": 1.0, "flip_time": False, "max_epochs": 4}
    assert config == TrainConfig(**recipe, threads=PROFILES["default"]["threads"], progress=False)


def test_the_profiles_recipes_literally(monkeypatch):
    """What `make model` and `make model QUICK=1` train, pinned: a change to a recipe is deliberate."""
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert config_of() == config_of("--profile", "default")  # without --profile: the default recipe
    assert config_of() == TrainConfig(
        architecture="resnet18_narrow",
        max_epochs=6,
        min_epochs=6,
        patience=2,
        learning_rate=3e-3,
        height=150,
        width=250,
        flip_time=True,
        roll_time=True,
        precision="fp32",
        hacker_weight=3.0,
        seed=DEFAULT_SEED,
        threads=PROFILES["default"]["threads"],
        progress=False,
    )
    assert config_of("--profile", "quick") == TrainConfig(
        architecture="small_cnn",
        max_epochs=8,
        min_epochs=0,
        patience=2,
        learning_rate=3e-3,
        height=76,
        width=250,
        flip_time=True,
        roll_time=True,
        precision="fp32",
        hacker_weight=1.0,
        seed=DEFAULT_SEED,
        threads=1,
        progress=False,
    )
    flagged = config_of("--flip-time", "--no-roll-time", "--architecture", "small_cnn", "--seed", "2")
    assert (flagged.flip_time, flagged.roll_time, flagged.architecture, flagged.seed) == (
        True,
        False,
        "small_cnn",
        2,
    )
    assert flagged.precision == "fp32" and flagged.hacker_weight == 3.0


def test_dataset_on_bars_from_csv_files(tmp_path, capsys):
    """`dataset --klines-csv` simulates the accounts on the given bars and says so in the manifest."""
    from datetime import datetime, timezone

    from training.__main__ import main
    from training.market_data import synthetic_klines, write_csv

    end = datetime(2026, 3, 2, tzinfo=timezone.utc)
    bars = synthetic_klines(["AAA", "BBB"], end, 4, 11, "crypto")
    for symbol in bars:
        write_csv(tmp_path / f"{symbol.lower()}.csv", bars[symbol])
    out = tmp_path / "ds"
    argv = ["--no-progress", "dataset", "--out", str(out), "--hacker", "12", "--normal", "12", "--seed", "5"]
    assert (
        main(
            [
                *argv,
                "--klines-csv",
                f"AAA={tmp_path / 'aaa.csv'}",
                "--klines-csv",
                f"BBB={tmp_path / 'bbb.csv'}",
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    market = manifest["market"]
    assert market["source"] == "given"
    assert market["csv"]["AAA"]["file"] == "aaa.csv" and len(market["csv"]["AAA"]["sha256"]) == 64
    assert str(tmp_path) not in json.dumps(manifest)  # no directory of this machine
    assert market["symbols"]["BBB"]["bars"] == len(bars["BBB"])
    records = [json.loads(line) for line in (out / "images.jsonl").read_text().splitlines()]
    assert {r["symbol"] for r in records} <= {"AAA", "BBB"} and len(records) >= 24
    window = (
        datetime.fromisoformat(market["symbols"]["AAA"]["first"]),
        datetime.fromisoformat(market["symbols"]["AAA"]["last"]),
    )
    for line in (out / "accounts.jsonl").read_text().splitlines():
        account = json.loads(line)
        assert window[0] < datetime.fromisoformat(account["window_end"]) <= window[1] + timedelta(minutes=5)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--klines-csv", "AAA"], "expected SYMBOL=CSV"),
        (["--klines-csv", "AAA=missing.csv"], "missing.csv"),
        (["--klines-csv", "AAA={short}"], "a 24 h withdrawal window needs more than 25 h of bars"),
        (["--month", "2026-01"], "--month goes with --alphavantage"),
        (["--klines-csv", "AAA={short}", "--month", "2026-01"], "--month goes with --alphavantage"),
        (["--klines-csv", "AAA={short}", "--klines-csv", "AAA={short}"], "AAA given twice"),
        (["--klines-csv", "AAA={short}", "--alphavantage", "AAA"], "AAA given by both"),
        (["--alphavantage", "BBB", "--alphavantage", "BBB"], "a symbol given twice"),
    ],
)
def test_dataset_rejects_unusable_market_input_with_a_clear_error(tmp_path, capsys, flags, message):
    from datetime import datetime, timezone

    from training.__main__ import main
    from training.market_data import synthetic_klines, write_csv

    short = tmp_path / "short.csv"
    write_csv(
        short, synthetic_klines(["AAA"], datetime(2026, 3, 2, tzinfo=timezone.utc), 1, 1, "crypto")["AAA"]
    )
    flags = [f.format(short=short) for f in flags]
    out = tmp_path / "ds"
    (out / "hacker").mkdir(parents=True)
    (out / "hacker" / "earlier.png").write_bytes(b"an earlier dataset")
    assert (
        main(["--no-progress", "dataset", "--out", str(out), "--hacker", "2", "--normal", "2", *flags]) == 2
    )
    assert message in capsys.readouterr().err
    assert (out / "hacker" / "earlier.png").read_bytes() == b"an earlier dataset"  # left as it was


def test_dataset_market_from_alpha_vantage_is_recorded(monkeypatch):
    from datetime import datetime, timezone

    from training.__main__ import given_market
    from training.market_data import AlphaVantageClient, synthetic_klines

    asked = []

    def intraday(self, symbol, *, month=None, **_):
        asked.append((symbol, month))
        return synthetic_klines([symbol], datetime(2026, 3, 2, tzinfo=timezone.utc), 3, 2, "stock")[symbol]

    monkeypatch.setattr(AlphaVantageClient, "intraday", intraday)
    klines, source = given_market([], ["COIN", "TSLA"], "2026-02")
    assert asked == [("COIN", "2026-02"), ("TSLA", "2026-02")]
    assert sorted(klines) == ["COIN", "TSLA"] and all(klines.values())
    assert source == {"alphavantage": {"symbols": ["COIN", "TSLA"], "month": "2026-02"}}
    assert given_market([], []) == (None, None)

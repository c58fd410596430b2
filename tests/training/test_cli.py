"""`python -m training train`: which recipe its flags give."""

from __future__ import annotations

import dataclasses

import pytest

from training.__main__ import TRAIN_FLAG_DEFAULTS, build_parser, train_config
from training.pipeline import PROFILES, profile_config
from training.train import THREADS_ENV, TrainConfig

BASE = ["train", "--dataset", "d", "--out", "o"]


def config_of(*flags: str) -> TrainConfig:
    return train_config(build_parser().parse_args([*BASE, *flags]), progress=False)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_profile_gives_the_recipe_make_model_trains(profile, monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    config = config_of("--profile", profile)
    assert config == profile_config(profile, progress=False)
    for key, value in PROFILES[profile]["train"].items():
        assert getattr(config, key) == value, key
    assert config.threads == PROFILES[profile].get("threads", 1)


def test_flags_given_override_the_profile(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    config = config_of("--profile", "default", "--hacker-weight", "1", "--no-flip-time", "--epochs", "4")
    expected = dataclasses.replace(
        profile_config("default", progress=False), hacker_weight=1.0, flip_time=False, max_epochs=4
    )
    assert config == expected


def test_without_a_profile_the_command_keeps_its_own_defaults(monkeypatch):
    monkeypatch.setenv(THREADS_ENV, "1")
    plain = config_of()
    for key, value in TRAIN_FLAG_DEFAULTS.items():
        assert getattr(plain, key) == value, key
    assert plain.threads == 1
    flagged = config_of("--flip-time", "--roll-time", "--architecture", "small_cnn", "--seed", "2")
    assert (flagged.flip_time, flagged.roll_time, flagged.architecture, flagged.seed) == (
        True,
        True,
        "small_cnn",
        2,
    )
    assert flagged.precision == "fp32" and flagged.hacker_weight == 1.0

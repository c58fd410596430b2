"""CDK context -> DeployConfig: a bad or missing setting stops synth with a message naming it."""

from __future__ import annotations

from typing import Any

import pytest

from infra import constants
from infra.cdk_context import ConfigError, DeployConfig

ONCALL = {"alarm_email": "risk-oncall@example.com"}
EXISTING = {"endpoint_name": "chart-classifier", **ONCALL}
MODEL = {
    "model_data_url": "s3://models/chart-v1/model.tar.gz",
    "image_uri": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3.0-cpu-py311",
    **ONCALL,
}


def config(**context: Any) -> DeployConfig:
    return DeployConfig.from_context(context.get)


def test_defaults_are_the_design_cards() -> None:
    c = config(**EXISTING)
    assert c.python == constants.DEFAULT_PYTHON == "3.9"
    assert c.risk_threshold == 0.90 and c.window_hours == 24
    assert (
        c.klines_cache_seconds == 600
        and config(**EXISTING, klines_cache_seconds="0").klines_cache_seconds == 0
    )
    assert c.model is None and c.endpoint_name == "chart-classifier"
    assert c.endpoint_fuses is False and config(**EXISTING, endpoint_fuses="true").endpoint_fuses is True
    assert c.layer_zips["plotting"].parts[-2:] == ("python3.9", "plotting.zip")


def test_runtime_switch_selects_the_layer_build_too() -> None:
    c = config(python="3.12", layer_dir="elsewhere", **EXISTING)
    assert c.python == "3.12"
    assert c.layer_zips["powertools"] == c.layer_dir / "python3.12" / "powertools.zip"
    assert c.layer_dir.is_absolute() and c.layer_dir.name == "elsewhere"  # relative to the repository


def test_deploying_from_a_model_reads_its_artifact_and_image() -> None:
    c = config(instance_type="ml.c5.xlarge", endpoint_max_instances="4", **MODEL)
    assert c.endpoint_name is None and c.model is not None
    assert (c.model.model_data_bucket, c.model.model_data_key) == ("models", "chart-v1/model.tar.gz")
    assert (c.model.image.account, c.model.image.region, c.model.image.repository) == (
        "763104351884",
        "us-east-1",
        "pytorch-inference",
    )
    assert (c.model.initial_instance_count, c.model.max_instance_count) == (1, 4)


@pytest.mark.parametrize(
    ("context", "named"),
    [
        (ONCALL, "endpoint_name"),  # neither
        ({**EXISTING, **MODEL}, "endpoint_name"),  # both
        ({**EXISTING, "python": "3.10"}, "python"),
        ({**EXISTING, "risk_threshold": "1.5"}, "risk_threshold"),
        ({**EXISTING, "risk_threshold": "0"}, "risk_threshold"),
        ({**EXISTING, "window_hours": "a day"}, "window_hours"),
        ({**EXISTING, "klines_cache_seconds": "-5"}, "klines_cache_seconds"),
        ({**EXISTING, "klines_cache_seconds": "7200"}, "klines_cache_seconds"),
        ({**EXISTING, "analysts_role_arn": "risk-analysts"}, "analysts_role_arn"),
        ({**EXISTING, "endpoint_fuses": "yes"}, "endpoint_fuses"),
        ({**EXISTING, "max_concurrency": "1"}, "max_concurrency"),
        ({"model_data_url": "models/model.tar.gz", "image_uri": MODEL["image_uri"]}, "model_data_url"),
        ({"model_data_url": MODEL["model_data_url"]}, "image_uri"),
        ({**MODEL, "image_uri": "pytorch-inference:latest"}, "image_uri"),
        ({**MODEL, "endpoint_instances": "2", "endpoint_max_instances": "1"}, "endpoint_max_instances"),
    ],
)
def test_bad_settings_are_named(context: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        config(**context)


def test_queue_settings_follow_lambdas_guidance() -> None:
    assert constants.QUEUE_VISIBILITY_TIMEOUT_SECONDS >= 6 * constants.FUNCTION_TIMEOUT_SECONDS
    assert constants.QUEUE_RETENTION_DAYS >= 4  # Friday evening to Tuesday morning
    assert constants.QUEUE_RETENTION_DAYS < constants.DEAD_LETTER_RETENTION_DAYS <= 14


# --- back-pressure -------------------------------------------------------------------------------


def test_concurrency_is_capped_and_reserved_by_default() -> None:
    c = config(**EXISTING)
    per_instance = constants.MAX_CONCURRENCY_PER_ENDPOINT_INSTANCE
    assert c.max_concurrency == per_instance and c.reserved_concurrency == per_instance
    # A deployed endpoint that scales out lets the queue start more invocations.
    scaled = config(endpoint_max_instances="3", **MODEL)
    assert scaled.max_concurrency == 3 * per_instance == scaled.reserved_concurrency


def test_reserved_concurrency_may_exceed_the_cap_or_be_given_up_but_never_fall_below() -> None:
    assert config(max_concurrency="4", reserved_concurrency="10", **EXISTING).reserved_concurrency == 10
    given_up = config(reserved_concurrency="none", **EXISTING)
    assert given_up.reserved_concurrency is None and given_up.max_concurrency is not None
    with pytest.raises(ConfigError, match="reserved_concurrency=3 is below max_concurrency=4"):
        config(max_concurrency="4", reserved_concurrency="3", **EXISTING)
    with pytest.raises(ConfigError, match="below max_concurrency"):
        config(reserved_concurrency="2", **EXISTING)  # below the default cap


# --- who receives the alarms ---------------------------------------------------------------------


def test_synth_refuses_alarms_that_reach_nobody_unless_told() -> None:
    with pytest.raises(ConfigError, match="alarm_email or alarm_topic_arn"):
        config(endpoint_name="chart-classifier")
    with pytest.raises(ConfigError, match="alarm_email or alarm_topic_arn"):
        config(endpoint_name="chart-classifier", alarms_without_subscriber="false")
    told = config(endpoint_name="chart-classifier", alarms_without_subscriber="true")
    assert told.alarm_email is None and told.alarm_topic_arn is None
    topic = "arn:aws:sns:us-east-1:111122223333:oncall"
    assert config(endpoint_name="chart-classifier", alarm_topic_arn=topic).alarm_topic_arn == topic


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"alarm_email": "risk-oncall"}, "alarm_email"),
        ({"alarm_topic_arn": "oncall"}, "alarm_topic_arn"),
        ({"alarms_without_subscriber": "yes"}, "alarms_without_subscriber"),
    ],
)
def test_bad_alarm_settings_are_named(context: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        config(endpoint_name="chart-classifier", **context)

"""The deployment's settings, read once from CDK context (`cdk.json` or `-c key=value`).

Pure Python: `DeployConfig.from_context` takes any `get(key) -> value`, so tests build configs
without an App, and a bad or missing setting fails synth with a message naming the key.
Every key is explained in docs/deploy.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from infra import constants
from scoring.contracts import DEFAULT_KLINES_CACHE_SECONDS, DEFAULT_RISK_THRESHOLD, DEFAULT_WINDOW_HOURS

REPO = Path(__file__).resolve().parent.parent
DEFAULT_LAYER_DIR = REPO / "layers" / "build"
LAYER_NAMES = ("plotting", "powertools")

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")
# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:tag|@digest]
_ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)(?:[:@].+)?$")
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The explicit "no" of an optional setting that otherwise has a default.
_NONE = "none"


class ConfigError(ValueError):
    """A CDK context setting is missing or bad; the message names it."""


@dataclass(frozen=True)
class EcrImage:
    account: str
    region: str
    repository: str
    uri: str


@dataclass(frozen=True)
class ModelSource:
    """Deploy Model + EndpointConfig + Endpoint from a trained artifact (training/artifact.py)."""

    model_data_url: str
    image: EcrImage
    instance_type: str
    initial_instance_count: int
    max_instance_count: int
    role_arn: Optional[str]

    @property
    def model_data_bucket(self) -> str:
        return _S3_URI.match(self.model_data_url).group(1)  # type: ignore[union-attr]

    @property
    def model_data_key(self) -> str:
        return _S3_URI.match(self.model_data_url).group(2)  # type: ignore[union-attr]


_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,200}$")


@dataclass(frozen=True)
class AnomalySettings:
    """The batch side (infra/anomaly_discovery.py): where the request logs are, when it runs, how big."""

    logs_bucket_name: Optional[str] = None  # an existing bucket; None: the stack creates one
    logs_prefix: str = "requests"
    schedule_hour_utc: int = 1
    max_vcpu: int = 16
    max_memory_gb: int = 64

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> AnomalySettings:
        bucket = _text(get, "anomaly_logs_bucket")
        if bucket is not None and not _BUCKET_NAME.match(bucket):
            raise ConfigError(f"anomaly_logs_bucket={bucket!r} is not an S3 bucket name")
        prefix = (_text(get, "anomaly_logs_prefix") or cls.logs_prefix).strip("/")
        if not _PREFIX.match(prefix):
            raise ConfigError(f"anomaly_logs_prefix={prefix!r}: a key prefix such as requests or logs/api")
        vcpu = _number(get, "anomaly_max_vcpu", int, cls.max_vcpu, low=1, high=400)
        return cls(
            logs_bucket_name=bucket,
            logs_prefix=prefix,
            schedule_hour_utc=_number(
                get, "anomaly_schedule_hour_utc", int, cls.schedule_hour_utc, low=0, high=23
            ),
            max_vcpu=vcpu,
            max_memory_gb=_number(
                get, "anomaly_max_memory_gb", int, cls.max_memory_gb, low=2 * vcpu, high=3000
            ),
        )


@dataclass(frozen=True)
class DeployConfig:
    python: str
    layer_dir: Path
    # exactly one of the two
    endpoint_name: Optional[str]
    model: Optional[ModelSource]
    endpoint_variant: str
    risk_threshold: float
    window_hours: int
    klines_cache_seconds: int
    # The model behind the endpoint also carries the round-trip model (contract 6's JSON variant).
    endpoint_fuses: bool
    evidence_retention_days: int
    reserved_concurrency: Optional[int]
    max_concurrency: int
    alarm_email: Optional[str]
    alarm_topic_arn: Optional[str]
    business_system_role_arn: Optional[str]
    analysts_role_arn: Optional[str]
    data_feed_role_arn: Optional[str]
    anomalies: AnomalySettings = field(default_factory=AnomalySettings)

    @property
    def layer_zips(self) -> dict[str, Path]:
        folder = self.layer_dir / f"python{self.python}"
        return {name: folder / f"{name}.zip" for name in LAYER_NAMES}

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> DeployConfig:
        python = _text(get, "python") or constants.DEFAULT_PYTHON
        if python not in constants.SUPPORTED_PYTHONS:
            raise ConfigError(f"python={python!r}: choose one of {', '.join(constants.SUPPORTED_PYTHONS)}")
        layer_dir = Path(_text(get, "layer_dir") or DEFAULT_LAYER_DIR)
        if not layer_dir.is_absolute():
            layer_dir = REPO / layer_dir

        endpoint_name = _text(get, "endpoint_name")
        model_data_url = _text(get, "model_data_url")
        if bool(endpoint_name) == bool(model_data_url):
            raise ConfigError(
                "name the model endpoint: either endpoint_name=<an existing endpoint> or "
                "model_data_url=s3://.../model.tar.gz with image_uri=... to deploy one (docs/deploy.md)"
            )
        if endpoint_name and not _ENDPOINT_NAME.match(endpoint_name):
            raise ConfigError(f"endpoint_name={endpoint_name!r} is not a SageMaker endpoint name")
        model = _model_source(get, model_data_url) if model_data_url else None
        max_concurrency, reserved_concurrency = _concurrency(get, model)
        alarm_email, alarm_topic_arn = _alarm_subscriber(get)

        return cls(
            python=python,
            layer_dir=layer_dir,
            endpoint_name=endpoint_name,
            model=model,
            endpoint_variant=_text(get, "endpoint_variant") or constants.DEFAULT_ENDPOINT_VARIANT,
            risk_threshold=_threshold(get),
            window_hours=_number(get, "window_hours", int, DEFAULT_WINDOW_HOURS, low=1, high=24 * 7),
            klines_cache_seconds=_number(
                get, "klines_cache_seconds", int, DEFAULT_KLINES_CACHE_SECONDS, low=0, high=3600
            ),
            endpoint_fuses=_flag(get, "endpoint_fuses"),
            evidence_retention_days=_number(
                get, "evidence_retention_days", int, constants.EVIDENCE_RETENTION_DAYS, low=1
            ),
            reserved_concurrency=reserved_concurrency,
            max_concurrency=max_concurrency,
            alarm_email=alarm_email,
            alarm_topic_arn=alarm_topic_arn,
            business_system_role_arn=_role(get, "business_system_role_arn"),
            analysts_role_arn=_role(get, "analysts_role_arn"),
            data_feed_role_arn=_role(get, "data_feed_role_arn"),
            anomalies=AnomalySettings.from_context(get),
        )


def _model_source(get: Callable[[str], Any], model_data_url: str) -> ModelSource:
    if not _S3_URI.match(model_data_url):
        raise ConfigError(f"model_data_url={model_data_url!r}: give the s3://bucket/key of model.tar.gz")
    image_uri = _text(get, "image_uri")
    if not image_uri:
        raise ConfigError("model_data_url needs image_uri: the SageMaker PyTorch inference image (ECR URI)")
    image = _ECR_IMAGE.match(image_uri)
    if not image:
        raise ConfigError(
            f"image_uri={image_uri!r}: expected <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>"
        )
    instance_type = _text(get, "instance_type") or constants.DEFAULT_ENDPOINT_INSTANCE_TYPE
    if not _INSTANCE_TYPE.match(instance_type):
        raise ConfigError(f"instance_type={instance_type!r}: expected e.g. ml.m5.large")
    initial = _number(get, "endpoint_instances", int, 1, low=1)
    maximum = _number(get, "endpoint_max_instances", int, initial, low=initial)
    return ModelSource(
        model_data_url=model_data_url,
        image=EcrImage(image.group(1), image.group(2), image.group(3), image_uri),
        instance_type=instance_type,
        initial_instance_count=initial,
        max_instance_count=maximum,
        role_arn=_role(get, "model_role_arn"),
    )


def _concurrency(get: Callable[[str], Any], model: Optional[ModelSource]) -> tuple[int, Optional[int]]:
    """The event source's maximum concurrency and the function's reserved concurrency.

    Both are on by default, so a backlog drains at the endpoint's pace instead of throttling it
    harder; `reserved_concurrency=none` gives up the reservation (an account whose unreserved
    concurrency cannot spare it), never the cap.
    """
    instances = model.max_instance_count if model else 1
    default = min(1000, max(2, constants.MAX_CONCURRENCY_PER_ENDPOINT_INSTANCE * instances))
    maximum = int(_number(get, "max_concurrency", int, default, low=2, high=1000))
    if (_text(get, "reserved_concurrency") or "").lower() == _NONE:
        return maximum, None
    reserved = int(_number(get, "reserved_concurrency", int, maximum, low=1))
    if reserved < maximum:
        raise ConfigError(
            f"reserved_concurrency={reserved} is below max_concurrency={maximum}: the event source would "
            "start invocations Lambda throttles; raise it, lower max_concurrency, or give "
            "reserved_concurrency=none"
        )
    return maximum, reserved


def _alarm_subscriber(get: Callable[[str], Any]) -> tuple[Optional[str], Optional[str]]:
    """Where alarms go: an e-mail address, an existing SNS topic, or both. Synth refuses neither
    unless the operator says so (`alarms_without_subscriber=true`): an alarm nobody receives
    lets withdrawals wait unnoticed."""
    email, topic = _text(get, "alarm_email"), _text(get, "alarm_topic_arn")
    if email is not None and not _EMAIL.match(email):
        raise ConfigError(f"alarm_email={email!r} is not an e-mail address")
    if topic is not None and not _SNS_TOPIC_ARN.match(topic):
        raise ConfigError(f"alarm_topic_arn={topic!r} is not an SNS topic ARN")
    opt_out = (_text(get, "alarms_without_subscriber") or "false").lower()
    if opt_out not in ("true", "false"):
        raise ConfigError(f"alarms_without_subscriber={opt_out!r}: give true or false")
    if email is None and topic is None and opt_out != "true":
        raise ConfigError(
            "alarm_email or alarm_topic_arn: name who receives the alarms (or give "
            "alarms_without_subscriber=true to deploy alarms that reach nobody, e.g. a test stack)"
        )
    return email, topic


def _threshold(get: Callable[[str], Any]) -> float:
    threshold = float(_number(get, "risk_threshold", float, DEFAULT_RISK_THRESHOLD))
    if not 0.0 < threshold < 1.0:  # the function's settings refuse 0 and 1 too
        raise ConfigError(f"risk_threshold={threshold} must lie strictly between 0 and 1")
    return threshold


def _flag(get: Callable[[str], Any], key: str) -> bool:
    """A yes/no setting, false when absent; anything but true/false is refused by name."""
    value = get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ConfigError(f"{key}={value!r}: say true or false")
    return text == "true"


def _text(get: Callable[[str], Any], key: str) -> Optional[str]:
    value = get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(
    get: Callable[[str], Any],
    key: str,
    kind: Callable[[str], Any],
    default: Any,
    *,
    low: Optional[float] = None,
    high: Optional[float] = None,
) -> Any:
    text = _text(get, key)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{key}={text!r} is not a{'n integer' if kind is int else ' number'}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{key}={value} is out of range [{low}, {high if high is not None else '...'}]")
    return value


def _role(get: Callable[[str], Any], key: str) -> Optional[str]:
    arn = _text(get, key)
    if arn is not None and not _ROLE_ARN.match(arn):
        raise ConfigError(f"{key}={arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    return arn

"""The job's one configuration file (TOML), validated up front with errors that name the key.

The defaults ship in the package (`default_config.toml`), so the same file is read from a
checkout, a wheel or the zip EMR Serverless runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any, Optional

import tomllib

MONITOR_METRICS = (
    "requests",
    "distinct_users",
    "distinct_devices",
    "distinct_ips",
    "orders",
    "logins",
    "failed_logins",
    "withdrawals",
)
# Fields of contract 8 that may be grouped on or turned into items.
REQUEST_FIELDS = ("user_id", "device_id", "ip", "user_agent", "client_id", "referer", "api", "event")


class ConfigError(ValueError):
    """The configuration is bad; the message names the key."""


@dataclass(frozen=True)
class Rule:
    dimensions: tuple[str, ...]
    metric: str
    above: float


@dataclass(frozen=True)
class MonitorConfig:
    dimensions: tuple[str, ...]
    rules: tuple[Rule, ...]
    outlier_z: float
    outlier_min_value: float
    growth_factor: float
    max_findings: int


@dataclass(frozen=True)
class PatternConfig:
    dimensions: tuple[str, ...]
    min_support: float
    share_threshold: float
    growth_factor: float
    top: int


@dataclass(frozen=True)
class SeriesConfig:
    step_minutes: int
    detector: Optional[str]


@dataclass(frozen=True)
class JobConfig:
    history_days: int
    monitor: MonitorConfig
    patterns: PatternConfig
    series: SeriesConfig


def default_text() -> str:
    return resources.files("anomalies").joinpath("default_config.toml").read_text(encoding="utf-8")


def load_config(text: Optional[str] = None) -> JobConfig:
    """Parse and validate a TOML document (None: the shipped defaults). Raises ConfigError."""
    try:
        raw = tomllib.loads(default_text() if text is None else text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"not valid TOML: {error}") from error
    return parse_config(raw)


def parse_config(raw: dict[str, Any]) -> JobConfig:
    defaults = tomllib.loads(default_text())
    _known(raw, defaults, "")
    merged = {**defaults, **raw}
    for section in ("monitor", "patterns", "series"):
        merged[section] = {**defaults[section], **raw.get(section, {})}
    m, p, s = merged["monitor"], merged["patterns"], merged["series"]

    dims = _dimensions(m["dimensions"], "monitor.dimensions")
    if len(dims) > 6:
        raise ConfigError("monitor.dimensions: at most 6 (a cube of n dimensions has 2^n combinations)")
    rules = []
    for i, rule in enumerate(m["rules"]):
        where = f"monitor.rules[{i}]"
        if not isinstance(rule, dict) or set(rule) != {"dimensions", "metric", "above"}:
            raise ConfigError(f"{where}: needs exactly dimensions, metric and above")
        rule_dims = _dimensions(rule["dimensions"], f"{where}.dimensions")
        if not set(rule_dims) <= set(dims):
            raise ConfigError(f"{where}.dimensions: {list(rule_dims)} are not all in monitor.dimensions")
        if rule["metric"] not in MONITOR_METRICS:
            raise ConfigError(
                f"{where}.metric={rule['metric']!r}: choose one of {', '.join(MONITOR_METRICS)}"
            )
        rules.append(Rule(rule_dims, rule["metric"], _number(rule["above"], f"{where}.above", low=0)))

    detector = s["detector"]
    if not isinstance(detector, str):
        raise ConfigError('series.detector: a detector\'s name, or "" for the default')
    return JobConfig(
        history_days=int(_number(merged["history_days"], "history_days", low=0, high=60, integer=True)),
        monitor=MonitorConfig(
            dimensions=dims,
            rules=tuple(rules),
            outlier_z=_number(m["outlier_z"], "monitor.outlier_z", low=0, exclusive=True),
            outlier_min_value=_number(m["outlier_min_value"], "monitor.outlier_min_value", low=0),
            growth_factor=_number(m["growth_factor"], "monitor.growth_factor", low=1),
            max_findings=int(_number(m["max_findings"], "monitor.max_findings", low=1, integer=True)),
        ),
        patterns=PatternConfig(
            dimensions=_dimensions(p["dimensions"], "patterns.dimensions"),
            min_support=_number(p["min_support"], "patterns.min_support", low=0, high=1, exclusive=True),
            share_threshold=_number(
                p["share_threshold"], "patterns.share_threshold", low=0, high=1, exclusive=True
            ),
            growth_factor=_number(p["growth_factor"], "patterns.growth_factor", low=1),
            top=int(_number(p["top"], "patterns.top", low=1, integer=True)),
        ),
        series=SeriesConfig(
            step_minutes=int(_number(s["step_minutes"], "series.step_minutes", low=1, high=60, integer=True)),
            detector=detector or None,
        ),
    )


def _known(raw: dict[str, Any], defaults: dict[str, Any], prefix: str) -> None:
    for key, value in raw.items():
        if key not in defaults:
            raise ConfigError(f"{prefix}{key}: unknown key (known: {', '.join(sorted(defaults))})")
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{key}: a [{prefix}{key}] table")
            _known(value, defaults[key], f"{prefix}{key}.")


def _dimensions(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: a non-empty list of field names")
    unknown = [v for v in value if v not in REQUEST_FIELDS]
    if unknown:
        raise ConfigError(f"{where}: {unknown} are not request fields ({', '.join(REQUEST_FIELDS)})")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: a field is listed twice")
    return tuple(value)


def _number(
    value: Any,
    where: str,
    *,
    low: Optional[float] = None,
    high: Optional[float] = None,
    exclusive: bool = False,
    integer: bool = False,
) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (integer and not isinstance(value, int))
    ):
        raise ConfigError(f"{where}={value!r}: {'an integer' if integer else 'a number'}")
    if low is not None and (value < low or (exclusive and value == low)):
        raise ConfigError(f"{where}={value!r}: must be {'>' if exclusive else '>='} {low}")
    if high is not None and value > high:
        raise ConfigError(f"{where}={value!r}: must be <= {high}")
    return float(value)

"""The function's configuration (contract 7), parsed and validated once per cold start."""

from __future__ import annotations

import functools
import os
from typing import Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scoring.contracts import DEFAULT_KLINES_CACHE_SECONDS, DEFAULT_RISK_THRESHOLD, DEFAULT_WINDOW_HOURS
from scoring.validation import validation_summary


class ConfigurationError(RuntimeError):
    """A missing or bad environment variable, named in the message."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    trades_table: str = Field(alias="TRADES_TABLE", min_length=3)
    klines_table: str = Field(alias="KLINES_TABLE", min_length=3)
    risk_table: str = Field(alias="RISK_TABLE", min_length=3)
    evidence_bucket: str = Field(alias="EVIDENCE_BUCKET", min_length=3)
    endpoint_name: str = Field(alias="ENDPOINT_NAME", min_length=1)
    risk_threshold: float = Field(alias="RISK_THRESHOLD", default=DEFAULT_RISK_THRESHOLD, gt=0.0, lt=1.0)
    window_hours: int = Field(alias="WINDOW_HOURS", default=DEFAULT_WINDOW_HOURS, ge=1, le=24 * 7)
    # How long a warm function may chart from settled klines it read before (0: read every bar
    # of every window from the table). An optional addition to contract 7.
    klines_cache_seconds: float = Field(
        alias="KLINES_CACHE_SECONDS", default=DEFAULT_KLINES_CACHE_SECONDS, ge=0.0, le=3600.0
    )
    # The deployed artifact also carries the round-trip model: send contract 6's JSON variant
    # (image and round-trip features) and record both parts. An optional addition to contract 7.
    endpoint_fuses: bool = Field(alias="ENDPOINT_FUSES", default=False)
    # Optional additions to contract 7: where a message retrying cannot help goes at once (unset:
    # it fails until the queue's redrive moves it), and how long a risk record lives (unset: forever).
    dead_letter_queue_url: Optional[str] = Field(alias="DEAD_LETTER_QUEUE_URL", default=None, min_length=1)
    record_retention_days: Optional[int] = Field(alias="RECORD_RETENTION_DAYS", default=None, ge=1)

    @classmethod
    def from_environ(cls, environ: Optional[Mapping[str, str]] = None) -> Settings:
        env = os.environ if environ is None else environ
        try:
            return cls.model_validate(dict(env))
        except ValidationError as error:
            raise ConfigurationError(
                f"scoring function configuration is invalid: {validation_summary(error)}"
            ) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Parsed on first use and cached for the life of the process; tests call cache_clear()."""
    return Settings.from_environ()

"""boto3 clients with their retry configuration, and the translation of their errors.

The function builds one per service and process (`client`); the command-line tool builds its own
with the same configuration (`new_client`) and words failures the same way (`describe_error`).
Retries are botocore's `standard` mode (throttling, 5xx and timeouts, with backoff and jitter);
what still fails after them becomes RetryLater, so the record fails and SQS redelivers it.
"""

from __future__ import annotations

import functools
from typing import Any, NoReturn

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from scoring.errors import ConfigurationProblem, RetryLater

# Timeouts and attempts small enough that one call's worst case (scoring.time_budget) is a third
# of the function's 60 s timeout at most: a slow dependency fails one withdrawal, never a batch.
_CONFIGS = {
    "dynamodb": Config(
        retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=1, read_timeout=3
    ),
    "s3": Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=1, read_timeout=4),
    # An endpoint call is the slow step: a longer read, fewer attempts.
    "sagemaker-runtime": Config(
        retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=1, read_timeout=8
    ),
    # The dead-letter send of a message retrying cannot help.
    "sqs": Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=1, read_timeout=4),
}


def client_config(service: str) -> Config:
    return _CONFIGS[service]


_CONFIGURATION_CODES = {
    "ResourceNotFoundException",
    "NoSuchBucket",
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "ValidationError",  # SageMaker: e.g. the endpoint does not exist
}


# Services the function does not call (the command-line tool's others) get this.
_DEFAULT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=2, read_timeout=10
)


def new_client(service: str) -> Any:
    """A client with the service's retry and timeout configuration (region and endpoint from the
    environment, as boto3 does: AWS_ENDPOINT_URL, when set, points it at the local stack)."""
    return boto3.client(service, config=_CONFIGS.get(service, _DEFAULT_CONFIG))


@functools.cache
def client(service: str) -> Any:
    """One client per service and process."""
    return new_client(service)


def describe_error(error: Exception, action: str) -> str:
    """A botocore failure in one line that names what was attempted."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "Unknown")
        message = error.response.get("Error", {}).get("Message", "")
        return f"{action}: {code}: {message}"
    return f"{action}: {type(error).__name__}: {error}"


def raise_translated(error: Exception, action: str) -> NoReturn:
    """Turn a botocore failure into RetryLater or ConfigurationProblem, naming what was attempted."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "Unknown")
        if code in _CONFIGURATION_CODES:
            raise ConfigurationProblem(describe_error(error, action)) from error
        raise RetryLater(describe_error(error, action)) from error
    if isinstance(error, BotoCoreError):
        raise RetryLater(describe_error(error, action)) from error
    raise error

"""botocore clients with their retry configuration, and the translation of their errors.

The function builds one per service and process (`client`); the command-line tool builds its own
with the same retries and timeouts (`new_client`) and words failures the same way (`describe_error`).
Retries are botocore's `standard` mode (throttling, 5xx and timeouts, with backoff and jitter);
what still fails after them becomes RetryLater, so the record fails and SQS redelivers it.
The clients are botocore's own, which boto3.client returns too: the function imports no boto3
(its import brings s3transfer, which the function never uses).
"""

from __future__ import annotations

import functools
import platform
import threading
from typing import Any, NoReturn

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from scoring.errors import ConfigurationProblem, RetryLater

# A fixed User-Agent: botocore otherwise rebuilds and sanitises its own, character by character,
# on every request (twice), a large share of a request's CPU.
USER_AGENT = f"chartguard Python/{platform.python_version()}"


def _config(attempts: int, connect_timeout: float, read_timeout: float) -> Config:
    return Config(
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        user_agent=USER_AGENT,
    )


# Timeouts and attempts small enough that one call's worst case (scoring.time_budget) is a third
# of the function's 60 s timeout at most: a slow dependency fails one withdrawal, never a batch.
_CONFIGS = {
    "dynamodb": _config(3, 1, 3),
    "s3": _config(2, 1, 4),
    # An endpoint call is the slow step: a longer read, fewer attempts.
    "sagemaker-runtime": _config(2, 1, 8),
    # The dead-letter send of a message retrying cannot help.
    "sqs": _config(2, 1, 4),
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
_DEFAULT_CONFIG = _config(5, 2, 10)


_session: Any = None
_session_lock = threading.Lock()


def botocore_session() -> Any:
    """One botocore session per process, as boto3's default session is: it holds the loaded
    service models and the credential chain every client shares, and a hook registered on it
    reaches every client made after."""
    global _session
    with _session_lock:
        if _session is None:
            _session = botocore.session.get_session()
        return _session


def new_client(service: str, *, validate: bool = True) -> Any:
    """A client with the service's retry and timeout configuration (region, credentials and
    endpoint from the environment, as boto3.client takes them: AWS_ENDPOINT_URL, when set, points
    it at the local stack). `validate=False` skips botocore's check of each request's parameters
    before it is sent."""
    config = _CONFIGS.get(service, _DEFAULT_CONFIG)
    if not validate:
        config = config.merge(Config(parameter_validation=False))
    session = botocore_session()
    with _session_lock:  # a botocore session is not safe to create clients from in two threads at once
        return session.create_client(service, config=config)


@functools.cache
def client(service: str) -> Any:
    """One client per service and process. The function's requests are built by its own code, so
    they are not validated again on every call: a malformed one fails at the service instead, a
    ClientError translated like any other."""
    return new_client(service, validate=False)


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

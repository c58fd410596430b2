"""What the function builds once per process: its clients' configuration and its Tracer."""

from __future__ import annotations

import subprocess
import sys

import pytest
from aws_lambda_powertools import Tracer
from botocore.validate import ParamValidationDecorator

from scoring.clients import USER_AGENT, new_client
from scoring.clients import client as function_client
from scoring.tracing import UnrecordedProvider, scoring_tracer


@pytest.fixture
def fresh_tracer_config():
    """Powertools' Tracer keeps its configuration on the class: each test starts from nothing."""
    Tracer._reset_config()
    yield
    Tracer._reset_config()


@pytest.mark.parametrize("service", ["dynamodb", "s3", "sagemaker-runtime"])
def test_the_functions_clients_skip_validation_and_the_tools_keep_it(function_env, service):
    assert not isinstance(function_client(service)._serializer, ParamValidationDecorator)
    assert isinstance(new_client(service)._serializer, ParamValidationDecorator)
    for made in (function_client(service), new_client(service)):
        assert made._user_agent_creator.to_string().startswith(USER_AGENT)
        assert made.meta.config.retries["mode"] == "standard"


def test_a_disabled_tracer_records_nothing_and_passes_results_and_errors_through(
    monkeypatch, fresh_tracer_config
):
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    tracer = scoring_tracer("svc")
    assert tracer.disabled and isinstance(tracer.provider, UnrecordedProvider)

    @tracer.capture_method
    def double(x: int) -> int:
        return 2 * x

    @tracer.capture_method
    def fail() -> None:
        raise ValueError("boom")

    assert double(21) == 42
    with pytest.raises(ValueError, match="boom"):
        fail()


def test_in_lambda_with_tracing_on_it_is_the_x_ray_tracer(monkeypatch, fresh_tracer_config):
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    tracer = scoring_tracer("svc")
    assert not tracer.disabled and "aws_xray_sdk" in type(tracer.provider).__module__


def test_with_tracing_off_the_handler_never_imports_the_x_ray_sdk(function_env):
    probe = "import sys, scoring.handler; print('aws_xray_sdk.core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

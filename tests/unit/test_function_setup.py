"""What the function builds once per process: its clients' configuration and its Tracer."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

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


def test_with_tracing_off_the_handler_never_imports_the_x_ray_sdk_boto3_or_a_plotting_library(
    function_env,
):
    modules = ("aws_xray_sdk.core", "boto3", "s3transfer", "matplotlib")
    probe = f"import sys, scoring.handler; print([m for m in {modules!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_function_converts_dynamodb_values_as_boto3_does():
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    from scoring.dynamodb_types import from_attribute, to_attribute

    values = [
        None,
        True,
        False,
        0,
        -7,
        Decimal("0.1"),
        Decimal("1E+30"),
        Decimal("-123.456789012345678901234567890123456"),
        "",
        "text é",
        b"\x00\x01",
        {"a": [1, "b", {"c": None}], "d": {}},
        [],
        ("x", Decimal("2.5")),
        {"s", "t"},
        {Decimal("1"), 2},
    ]
    for value in values:
        expected = TypeSerializer().serialize(value)
        made = to_attribute(value)
        if "NS" in made or "SS" in made:  # a set's members come in any order
            made, expected = (
                {k: sorted(v) for k, v in made.items()},
                {k: sorted(v) for k, v in expected.items()},
            )
        assert made == expected, value
        read = from_attribute(to_attribute(value))
        assert read == TypeDeserializer().deserialize(TypeSerializer().serialize(value)), value
    for refused in (
        1.5,
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("1E+200"),
        Decimal("0.1" + "1" * 40),
        object(),
    ):
        with pytest.raises((TypeError, ArithmeticError)):
            TypeSerializer().serialize(refused)
        with pytest.raises((TypeError, ArithmeticError)):
            to_attribute(refused)

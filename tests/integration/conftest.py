"""The local stack for integration tests: moto's server and the endpoint stand-in, over real HTTP.

The scoring function runs unchanged: its boto3 clients reach moto through AWS_ENDPOINT_URL and
the endpoint stand-in through AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, as any boto3 client would.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import boto3
import pytest

from local.endpoint_standin import serving_interpreter
from local.resources import ResourceNames, create_resources
from tests.conftest import FUNCTION_ENV

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = Path(os.environ.get("CHARTGUARD_MODEL_DIR", REPO / "artifacts" / "model"))


def serving_python() -> str:
    try:
        return serving_interpreter()
    except RuntimeError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def moto_url():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def model_dir() -> Path:
    if not (MODEL_DIR / "code" / "inference.py").exists():
        pytest.skip(f"no trained model at {MODEL_DIR}: `make model` builds it (make test does this first)")
    return MODEL_DIR


@pytest.fixture(scope="session")
def endpoint_url(model_dir):
    """The endpoint stand-in in its own process, as a real endpoint would be."""
    process = subprocess.Popen(
        [
            serving_python(),
            "-m",
            "local.endpoint_standin",
            "--model-dir",
            str(model_dir),
            "--endpoint-name",
            FUNCTION_ENV["ENDPOINT_NAME"],
            "--port",
            "0",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    if not first.startswith("listening on "):
        process.kill()
        raise RuntimeError(
            f"endpoint stand-in did not start: {first}{process.stderr.read() if process.stderr else ''}"
        )
    url = first.split()[2]
    yield url
    process.terminate()
    process.wait(timeout=10)


def set_faults(endpoint_url: str, **plan) -> dict:
    request = urllib.request.Request(
        f"{endpoint_url}/_standin/faults",
        data=json.dumps(plan).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def aws(moto_url, function_env, monkeypatch):
    """A fresh moto state with the stack's resources, and the function's environment pointing at it."""
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=5
    ).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    clients = {name: boto3.client(name, endpoint_url=moto_url) for name in ("dynamodb", "sqs", "s3")}
    created = create_resources(
        **clients,
        names=ResourceNames(
            trades_table=FUNCTION_ENV["TRADES_TABLE"],
            klines_table=FUNCTION_ENV["KLINES_TABLE"],
            risk_table=FUNCTION_ENV["RISK_TABLE"],
            evidence_bucket=FUNCTION_ENV["EVIDENCE_BUCKET"],
            endpoint_name=FUNCTION_ENV["ENDPOINT_NAME"],
        ),
    )
    clients["resources"] = created
    return clients


@pytest.fixture
def endpoint(aws, endpoint_url, monkeypatch):
    """The function's SageMaker Runtime client pointed at the stand-in, with no faults."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", endpoint_url)
    set_faults(endpoint_url, rate=0.0)
    yield endpoint_url
    set_faults(endpoint_url, rate=0.0)

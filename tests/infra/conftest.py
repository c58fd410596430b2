"""Synthesise the CDK app in-process, once per configuration, with stand-in layers.

The real layers take a minute to build; these tests check the stack, so a tiny zip stands in
for each layer. `make ci-infra` synthesises with the real ones (and tests/infra/test_layer.py
runs them). The CDK is imported inside the fixtures: each test module skips itself where
aws_cdk is not installed (the Python 3.9 environment), and a conftest cannot.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYER_NAMES = ("plotting", "powertools")
# Context every synth here shares: cdk.json's (feature flags included), as `cdk synth` reads it.
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((REPO / "cdk.json").read_text())["context"]
ACCOUNT = "111122223333"
BUSINESS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/exchange-withdrawals"
ANALYSTS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/risk-analysts"
DATA_FEED_ROLE = f"arn:aws:iam::{ACCOUNT}:role/market-data-feed"
OPERATOR_TOPIC = f"arn:aws:sns:eu-west-1:{ACCOUNT}:exchange-oncall"
MODEL_DATA = "s3://chartguard-models/chart-v1/model.tar.gz"
IMAGE = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.3.0-cpu-py311-ubuntu20.04-sagemaker"


@dataclass
class Synth:
    stack: Any  # infra.stack.ChartguardStack
    template: Any  # aws_cdk.assertions.Template
    outdir: Path

    @property
    def json(self) -> dict[str, Any]:
        return self.template.to_json()

    @property
    def template_path(self) -> Path:
        return self.outdir / f"{self.stack.artifact_id}.template.json"

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.json["Resources"].items() if v["Type"] == kind}

    def one(self, kind: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(kind)
        assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
        return next(iter(found.items()))

    def logical_id(self, construct: Any) -> str:
        return self.stack.resolve(self.stack.get_logical_id(construct.node.default_child))


def stand_in_layers(root: Path, python: str) -> Path:
    """layers/build's layout with one-file zips: enough for the stack to attach them."""
    folder = root / f"python{python}"
    folder.mkdir(parents=True)
    for name in LAYER_NAMES:
        with zipfile.ZipFile(folder / f"{name}.zip", "w") as archive:
            archive.writestr(f"python/chartguard_{name}_stand_in.py", "")
    return root


def synthesise(tmp: Path, **context: str) -> Synth:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra.stack import add_chartguard

    layer_dir = stand_in_layers(tmp / "layers", context.get("python", "3.9"))
    app = cdk.App(
        outdir=str(tmp / "cdk.out"), context={**CDK_JSON_CONTEXT, "layer_dir": str(layer_dir), **context}
    )
    stack = add_chartguard(app)
    app.synth()  # raises if cdk-nag reports an unacknowledged finding
    return Synth(stack, Template.from_stack(stack), tmp / "cdk.out")


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The default runtime (3.9), an existing endpoint, and the people and systems' roles named."""
    return synthesise(
        tmp_path_factory.mktemp("default"),
        endpoint_name="Chart-Classifier",
        business_system_role_arn=BUSINESS_ROLE,
        analysts_role_arn=ANALYSTS_ROLE,
        data_feed_role_arn=DATA_FEED_ROLE,
        alarm_email="risk-oncall@example.com",
    )


@pytest.fixture(scope="session")
def model_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The runtime switched to 3.12, and the endpoint deployed from a trained artifact."""
    return synthesise(
        tmp_path_factory.mktemp("model"),
        python="3.12",
        model_data_url=MODEL_DATA,
        image_uri=IMAGE,
        instance_type="ml.c5.large",
        endpoint_instances="1",
        endpoint_max_instances="3",
        alarm_topic_arn=OPERATOR_TOPIC,
    )


@pytest.fixture(params=["default", "model"])
def any_synth(request: pytest.FixtureRequest) -> Synth:
    return request.getfixturevalue(f"{request.param}_synth")

"""The scoring function (lambdas/scoring), its two layers and its SQS event source."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_lambda_event_sources import SqsEventSource
from constructs import Construct

from infra import constants
from infra.nag import acknowledge

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
HANDLER = "scoring.handler.lambda_handler"
RUNTIMES = {
    "3.9": lambda_.Runtime.PYTHON_3_9,
    "3.12": lambda_.Runtime.PYTHON_3_12,
    "3.13": lambda_.Runtime.PYTHON_3_13,
}
_RUNTIME_REASON = (
    "The runtime is the `python` context setting: 3.9 as the design card asks; AWS's dates for it and "
    "the switch to 3.12/3.13 are in docs/deploy.md."
)
# What never belongs in the code asset (the asset's hash would change with every test run).
CODE_EXCLUDES = ["__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", "*.egg-info"]


def _layer_description(zip_path: Path, layer: str, python: str) -> str:
    """`plotting for python3.9: numpy 2.0.2, pillow 11.3.0` from layers/build.py's manifest."""
    manifest = zip_path.parent / "layers.json"
    if not manifest.is_file():
        return f"chartguard {layer} for python{python}"
    dists = json.loads(manifest.read_text())["layers"][layer]["distributions"]
    text = f"chartguard {layer} for python{python}: " + ", ".join(f"{n} {v}" for n, v in dists.items())
    return text[:256]  # Lambda's limit


class ScoringFunction(Construct):
    """Lambda (x86_64) running scoring.handler on the chosen Python, fed by the withdrawal queue.

    Batch item failures are reported (contract 1: one bad message never fails its batch), so
    only the failed messages return to the queue, and after MAX_RECEIVE_COUNT tries to its DLQ.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        python: str,
        layer_zips: Mapping[str, Path],
        queue: sqs.IQueue,
        environment: Mapping[str, str],
        max_concurrency: int,
        reserved_concurrency: Optional[int] = None,
    ) -> None:
        super().__init__(scope, construct_id)
        runtime = RUNTIMES[python]
        missing = [str(path) for path in layer_zips.values() if not path.is_file()]
        if missing:
            raise FileNotFoundError(
                f"layer zip(s) not built: {', '.join(missing)}; run `make layer LAMBDA_PYTHON={python}`"
            )
        self.layers = [
            lambda_.LayerVersion(
                self,
                f"{name.capitalize()}Layer",
                code=lambda_.Code.from_asset(str(path)),  # a zip is uploaded as it is: same bytes, same hash
                compatible_runtimes=[runtime],
                compatible_architectures=[lambda_.Architecture.X86_64],
                description=_layer_description(path, name, python),
            )
            for name, path in layer_zips.items()
        ]
        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="chartguard: scores withdrawals from their last 24 h of trades drawn as charts",
            runtime=runtime,
            architecture=lambda_.Architecture.X86_64,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=CODE_EXCLUDES),
            layers=self.layers,
            memory_size=constants.FUNCTION_MEMORY_MB,
            timeout=Duration.seconds(constants.FUNCTION_TIMEOUT_SECONDS),
            environment=dict(environment),
            reserved_concurrent_executions=reserved_concurrency,
            log_group=self.log_group,
        )
        self.function.add_event_source(
            SqsEventSource(
                queue,
                batch_size=constants.BATCH_SIZE,
                max_batching_window=Duration.seconds(constants.MAX_BATCHING_WINDOW_SECONDS),
                report_batch_item_failures=True,
                max_concurrency=max_concurrency,
            )
        )
        self._trace_actively()
        acknowledge(
            self.function,
            {
                "AwsSolutions-L1": _RUNTIME_REASON,
                "CloudFormation-Validate::W2531": _RUNTIME_REASON,  # python3.9's deprecation dates
            },
        )
        assert self.function.role is not None
        acknowledge(
            self.function.role,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]": "It only lets the function write its own logs.",
            },
        )

    def _trace_actively(self) -> None:
        """X-Ray active tracing, its grant in a policy of its own: the one `Resource::*` statement
        is acknowledged there, so a wildcard anywhere else in the function's grants fails synth."""
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.tracing_config = lambda_.CfnFunction.TracingConfigProperty(mode="Active")
        assert self.function.role is not None
        tracing = iam.Policy(
            self,
            "TracingPolicy",
            roles=[self.function.role],
            statements=[
                iam.PolicyStatement(
                    actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources=["*"]
                )
            ],
        )
        # The role may send traces before the function that traces is created.
        policy = tracing.node.default_child
        assert isinstance(policy, iam.CfnPolicy)
        cfn_function.add_resource_dependency(policy)
        acknowledge(
            tracing,
            {
                "AwsSolutions-IAM5[Resource::*]": "X-Ray's PutTraceSegments and PutTelemetryRecords have no "
                "resource-level permissions.",
            },
        )

"""The chartguard stack: wires the components and their permissions (docs/design.md, Architecture)."""

from __future__ import annotations

from typing import Any, Optional

from aws_cdk import App, CfnOutput, Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from infra import constants
from infra.anomaly_discovery import AnomalyDiscovery
from infra.cdk_context import DeployConfig
from infra.evidence import EvidenceBucket
from infra.model_endpoint import ModelEndpoint
from infra.monitoring import Monitoring
from infra.nag import acknowledge
from infra.queue import WithdrawalQueue
from infra.scoring_function import ScoringFunction
from infra.tables import DataTables
from scoring.contracts import RISK_BY_DAY_INDEX


class ChartguardStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: DeployConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        timeout = Duration.seconds(constants.FUNCTION_TIMEOUT_SECONDS)

        self.queue = WithdrawalQueue(self, "Withdrawals", function_timeout=timeout)
        self.tables = DataTables(self, "Tables")
        self.evidence = EvidenceBucket(self, "Evidence", retention_days=config.evidence_retention_days)
        self.endpoint = ModelEndpoint(
            self,
            "ModelEndpoint",
            variant_name=config.endpoint_variant,
            endpoint_name=config.endpoint_name,
            model=config.model,
        )
        self.scoring = ScoringFunction(
            self,
            "Scoring",
            python=config.python,
            layer_zips=config.layer_zips,
            queue=self.queue.queue,
            reserved_concurrency=config.reserved_concurrency,
            max_concurrency=config.max_concurrency,
            environment={  # contract 7
                "TRADES_TABLE": self.tables.trades.table_name,
                "KLINES_TABLE": self.tables.klines.table_name,
                "RISK_TABLE": self.tables.risk.table_name,
                "EVIDENCE_BUCKET": self.evidence.bucket.bucket_name,
                "ENDPOINT_NAME": self.endpoint.endpoint_name,
                "RISK_THRESHOLD": _decimal_text(config.risk_threshold),
                "WINDOW_HOURS": str(config.window_hours),
                "KLINES_CACHE_SECONDS": str(config.klines_cache_seconds),
                "ENDPOINT_FUSES": "true" if config.endpoint_fuses else "false",
                # A rejected message goes here at once, with its reason; a record expires with its images.
                "DEAD_LETTER_QUEUE_URL": self.queue.dead_letter_queue.queue_url,
                "RECORD_RETENTION_DAYS": str(config.evidence_retention_days),
                "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
            },
        )
        function = self.scoring.function

        # What the function does, and nothing more: Query the trades and klines, read the newest
        # klines of several symbols by key (BatchGetItem), look for a withdrawal's record and put it once on the risk table, PutObject under evidence/,
        # InvokeEndpoint on its endpoint, send a rejected message to the dead-letter queue.
        # Table ARNs only (CDK's table grants add `/index/*`, which the function never reads).
        for table, actions in (
            (self.tables.trades, ["dynamodb:Query"]),
            (self.tables.klines, ["dynamodb:Query", "dynamodb:BatchGetItem"]),
            (self.tables.risk, ["dynamodb:Query", "dynamodb:PutItem"]),
        ):
            iam.Grant.add_to_principal(grantee=function, actions=actions, resource_arns=[table.table_arn])
        iam.Grant.add_to_principal(
            grantee=function,
            actions=["s3:PutObject"],  # grant_put would add s3:Abort* and object-lock/tagging writes
            resource_arns=[self.evidence.bucket.arn_for_objects(f"{constants.EVIDENCE_PREFIX}*")],
        )
        self.endpoint.grant_invoke(function)
        self.queue.dead_letter_queue.grant_send_messages(function)
        bucket_arn = self._arn_token(self.evidence.bucket)
        acknowledge(
            function,
            {
                f"AwsSolutions-IAM5[Resource::{bucket_arn}/{constants.EVIDENCE_PREFIX}*]": "The function "
                "writes one object per image under the evidence prefix, and nowhere else.",
            },
        )

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            queue=self.queue.queue,
            dead_letter_queue=self.queue.dead_letter_queue,
            function=function,
            endpoint_name=self.endpoint.endpoint_name,
            variant_name=self.endpoint.variant_name,
            function_timeout=timeout,
            alarm_email=config.alarm_email,
            alarm_topic_arn=config.alarm_topic_arn,
        )
        self.anomalies = AnomalyDiscovery(
            self,
            "Anomalies",
            settings=config.anomalies,
            alarm_topics=self.monitoring.alarm_targets,
            access_logs=self.evidence.access_logs,
        )
        self._grant_people_and_systems(config, bucket_arn)
        self._outputs()

    def _grant_people_and_systems(self, config: DeployConfig, bucket_arn: str) -> None:
        """Managed policies for the business system, the analysts and the data feed, attached to
        the roles named in context (same account), and exported for anyone else to attach."""
        sender = self._managed_policy(
            "BusinessSystemPolicy",
            "Send withdrawal messages (contract 1) to the chartguard queue",
            config.business_system_role_arn,
        )
        self.queue.queue.grant_send_messages(sender)

        # What `chartguard flags/show/export/report/trace` call, and nothing else: key-condition
        # queries of the risk table, its by-day index, the trades and the klines, and reads of
        # single evidence images. No Scan, no stream, no bucket listing.
        analysts = self._managed_policy(
            "AnalystsPolicy",
            "Query chartguard's risk table (and its by-day index), trades and klines; read evidence images",
            config.analysts_role_arn,
        )
        risk = self.tables.risk.table_arn
        analysts.add_statements(
            iam.PolicyStatement(
                sid="QueryRecordsTradesAndKlines",
                actions=["dynamodb:Query"],
                resources=[
                    risk,
                    f"{risk}/index/{RISK_BY_DAY_INDEX.name}",
                    self.tables.trades.table_arn,
                    self.tables.klines.table_arn,
                ],
            ),
            iam.PolicyStatement(
                sid="ReadEvidenceImages",
                actions=["s3:GetObject"],
                resources=[self.evidence.bucket.arn_for_objects(f"{constants.EVIDENCE_PREFIX}*")],
            ),
        )

        # Puts only: no DeleteItem or UpdateItem that could erase or rewrite the trade history.
        feed = self._managed_policy(
            "DataFeedPolicy",
            "Write trades (contract 2) and 5-minute klines (contract 3) into chartguard's tables",
            config.data_feed_role_arn,
        )
        feed.add_statements(
            iam.PolicyStatement(
                sid="PutTradesAndKlines",
                actions=["dynamodb:PutItem", "dynamodb:BatchWriteItem"],
                resources=[self.tables.trades.table_arn, self.tables.klines.table_arn],
            )
        )

        acknowledge(
            analysts,
            {
                f"AwsSolutions-IAM5[Resource::{bucket_arn}/{constants.EVIDENCE_PREFIX}*]": "Analysts open "
                "any evidence image a risk record names (GetObject only, under the evidence prefix).",
            },
        )
        self.policies = {"BusinessSystem": sender, "Analysts": analysts, "DataFeed": feed}

    def _arn_token(self, construct: Construct) -> str:
        """How cdk-nag writes a resource's ARN in finding IDs: `<LogicalId.Arn>`."""
        return f"<{self.resolve(self.get_logical_id(construct.node.default_child))}.Arn>"  # type: ignore[arg-type]

    def _managed_policy(
        self, construct_id: str, description: str, role_arn: Optional[str]
    ) -> iam.ManagedPolicy:
        roles = (
            [iam.Role.from_role_arn(self, f"{construct_id}Role", role_arn, mutable=False)] if role_arn else []
        )
        return iam.ManagedPolicy(self, construct_id, description=description, roles=roles)

    def _outputs(self) -> None:
        outputs = {
            "QueueUrl": (self.queue.queue.queue_url, "Where the business system sends withdrawal messages"),
            "QueueArn": (self.queue.queue.queue_arn, "The withdrawal queue's ARN"),
            "DeadLetterQueueUrl": (self.queue.dead_letter_queue.queue_url, "Failed and rejected withdrawals"),
            "TradesTableName": (self.tables.trades.table_name, "Contract 2"),
            "KlinesTableName": (self.tables.klines.table_name, "Contract 3"),
            "RiskTableName": (self.tables.risk.table_name, "Contract 4; analysts query its by-day index"),
            "EvidenceBucketName": (self.evidence.bucket.bucket_name, "Chart images behind each risk record"),
            "AlarmTopicArn": (self.monitoring.topic.topic_arn, "Subscribe on-call here"),
            "ScoringFunctionName": (self.scoring.function.function_name, "The scoring Lambda function"),
            "EndpointName": (self.endpoint.endpoint_name, "The SageMaker endpoint the function calls"),
        }
        for name, policy in self.policies.items():
            outputs[f"{name}PolicyArn"] = (policy.managed_policy_arn, policy.node.id)
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)


def _decimal_text(value: float) -> str:
    """0.9 -> "0.90" as contract 7 writes it; any finer threshold keeps all its digits."""
    return f"{value:.2f}" if round(value, 2) == value else repr(value)


def add_chartguard(app: App) -> ChartguardStack:
    """The app's one stack, configured from the app's context (raises ConfigError if it is bad).

    cdk-nag's AwsSolutions pack checks it at synth: a finding that is not acknowledged with a
    reason fails the synth. The acknowledgments go into the template's metadata, for auditors.
    """
    config = DeployConfig.from_context(app.node.try_get_context)
    stack = ChartguardStack(
        app,
        app.node.try_get_context("stack_name") or "Chartguard",
        config=config,
        description="chartguard: withdrawal-time account-takeover detection (trades as charts, scored on SageMaker)",
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True))
    return stack

"""The batch side: request logs -> a daily Spark job on EMR Serverless -> findings, alerts.

EventBridge Scheduler starts a Step Functions state machine every day; it runs the job on the
previous day (or the `day` in its input) with the `.sync` integration, waits for it, reads the
day's summary.json and publishes its alert to the findings topic when a finding is high.
A failed or timed-out run raises an alarm on the stack's alarm topic.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Sequence

import jsii
from aws_cdk import (
    Aws,
    BundlingOptions,
    CfnOutput,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
    TimeZone,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_emrserverless as emrserverless
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as assets
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.cdk_context import AnomalySettings
from infra.nag import acknowledge

PACKAGE = Path(__file__).resolve().parent.parent / "anomalies"
# The EMR Serverless release whose Spark matches the pinned pyspark (4.0).
RELEASE_LABEL = "emr-spark-8.0.0"
FINDINGS_PREFIX = "findings"
JOB_TIMEOUT = Duration.hours(3)
IDLE_MINUTES = 15
# The state machine's own yesterday, in JSONata: the day a 01:00 UTC run analyses.
YESTERDAY = "$fromMillis($toMillis($states.context.Execution.StartTime) - 86400000, '[Y0001]-[M01]-[D01]')"


@jsii.implements(ILocalBundling)
class _CopyPackage:
    """Bundles the `anomalies` package as `anomalies/...` in the asset's zip (for --py-files)."""

    def try_bundle(self, output_dir: str, *, image: Any = None, **_: Any) -> bool:
        shutil.copytree(
            PACKAGE, Path(output_dir) / "anomalies", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        return True


class AnomalyDiscovery(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AnomalySettings,
        alarm_topics: Sequence[sns.ITopic],
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        private: dict[str, Any] = {
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "encryption": s3.BucketEncryption.S3_MANAGED,
            "enforce_ssl": True,
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "server_access_logs_bucket": access_logs,
            "removal_policy": RemovalPolicy.RETAIN,
        }
        self.logs_bucket: s3.IBucket = (
            s3.Bucket.from_bucket_name(self, "LogsBucket", settings.logs_bucket_name)
            if settings.logs_bucket_name
            else s3.Bucket(self, "LogsBucket", server_access_logs_prefix="request-logs/", **private)
        )
        self.findings_bucket = s3.Bucket(
            self, "FindingsBucket", server_access_logs_prefix="findings/", **private
        )
        logs_uri = f"s3://{self.logs_bucket.bucket_name}/{settings.logs_prefix}"
        out_uri = f"s3://{self.findings_bucket.bucket_name}/{FINDINGS_PREFIX}"

        package = assets.Asset(
            self,
            "JobPackage",
            path=str(PACKAGE),
            bundling=BundlingOptions(
                image=DockerImage.from_registry("unused-local-bundling"), local=_CopyPackage()
            ),
        )
        entry_point = assets.Asset(self, "JobEntryPoint", path=str(PACKAGE / "job.py"))

        self.application = emrserverless.CfnApplication(
            self,
            "Spark",
            release_label=RELEASE_LABEL,
            type="Spark",
            architecture="X86_64",
            auto_start_configuration=emrserverless.CfnApplication.AutoStartConfigurationProperty(
                enabled=True
            ),
            auto_stop_configuration=emrserverless.CfnApplication.AutoStopConfigurationProperty(
                enabled=True, idle_timeout_minutes=IDLE_MINUTES
            ),
            maximum_capacity=emrserverless.CfnApplication.MaximumAllowedResourcesProperty(
                cpu=f"{settings.max_vcpu} vCPU", memory=f"{settings.max_memory_gb} GB"
            ),
        )
        application_arn = self.application.attr_arn

        # What the job may touch: read the logs under their prefix and its own code, read and
        # write the findings bucket. Nothing else.
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal(
                "emr-serverless.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": application_arn},
                },
            ),
            description="The anomaly-discovery Spark job: reads request logs, writes findings",
        )
        self.logs_bucket.grant_read(self.job_role, f"{settings.logs_prefix}/*")
        self.findings_bucket.grant_read_write(self.job_role)
        package.grant_read(self.job_role)
        entry_point.grant_read(self.job_role)

        self.findings_topic = sns.Topic(
            self,
            "FindingsTopic",
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
            enforce_ssl=True,
            display_name="chartguard anomaly findings",
        )
        self.state_machine = self._state_machine(
            application_arn=application_arn,
            application_id=self.application.attr_application_id,
            arguments=["--logs", logs_uri, "--day", "{% $states.input.day %}", "--out", out_uri],
            entry_point=entry_point.s3_object_url,
            package=package.s3_object_url,
        )
        self.schedule = scheduler.Schedule(
            self,
            "Daily",
            schedule=scheduler.ScheduleExpression.cron(
                minute="0", hour=str(settings.schedule_hour_utc), time_zone=TimeZone.ETC_UTC
            ),
            target=targets.StepFunctionsStartExecution(
                self.state_machine, input=scheduler.ScheduleTargetInput.from_object({})
            ),
            description="Analyse yesterday's request logs (UTC)",
        )
        self.failure_alarm = cloudwatch.Alarm(
            self,
            "RunFailed",
            alarm_description="The daily anomaly-discovery run failed or timed out: yesterday has no findings "
            "(docs/deploy.md, 'Run a day by hand').",
            metric=cloudwatch.MathExpression(
                expression="failed + timedOut",
                using_metrics={
                    "failed": self.state_machine.metric_failed(period=Duration.hours(1)),
                    "timedOut": self.state_machine.metric_timed_out(period=Duration.hours(1)),
                },
                period=Duration.hours(1),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for topic in alarm_topics:
            self.failure_alarm.add_alarm_action(actions.SnsAction(topic))
            self.failure_alarm.add_ok_action(actions.SnsAction(topic))
        self._acknowledge(settings, package, entry_point)
        for output_id, value, description in (
            (
                "LogsBucketName",
                self.logs_bucket.bucket_name,
                "Request logs (contract 8) go under <prefix>/day=YYYY-MM-DD/",
            ),
            (
                "FindingsBucketName",
                self.findings_bucket.bucket_name,
                "Findings (contract 9) under findings/day=YYYY-MM-DD/",
            ),
            (
                "FindingsTopicArn",
                self.findings_topic.topic_arn,
                "High-severity summaries; subscribe the risk team",
            ),
            (
                "DailyRunArn",
                self.state_machine.state_machine_arn,
                'Start it with {"day": "YYYY-MM-DD"} to run a day by hand',
            ),
            ("SparkApplicationId", self.application.attr_application_id, "The EMR Serverless application"),
            ("JobRoleArn", self.job_role.role_arn, "The job's execution role"),
        ):
            CfnOutput(self, output_id, value=value, description=description)

    def _state_machine(
        self,
        *,
        application_arn: str,
        application_id: str,
        arguments: list[str],
        entry_point: str,
        package: str,
    ) -> sfn.StateMachine:
        day = sfn.Pass.jsonata(
            self,
            "Day",
            outputs={"day": f"{{% $exists($states.input.day) ? $states.input.day : {YESTERDAY} %}}"},
        )
        run = sfn.CustomState(
            self,
            "RunJob",
            state_json={
                "Type": "Task",
                "QueryLanguage": "JSONata",
                "Resource": f"arn:{Aws.PARTITION}:states:::emr-serverless:startJobRun.sync",
                "Arguments": {
                    "ApplicationId": application_id,
                    "ExecutionRoleArn": self.job_role.role_arn,
                    "Name": "{% 'anomalies-' & $states.input.day %}",
                    "ExecutionTimeoutMinutes": int(JOB_TIMEOUT.to_minutes()),
                    "JobDriver": {
                        "SparkSubmit": {
                            "EntryPoint": entry_point,
                            "EntryPointArguments": arguments,
                            "SparkSubmitParameters": f"--py-files {package} --conf spark.sql.session.timeZone=UTC",
                        }
                    },
                    "ConfigurationOverrides": {
                        "MonitoringConfiguration": {
                            "S3MonitoringConfiguration": {
                                "LogUri": f"s3://{self.findings_bucket.bucket_name}/emr-logs/"
                            }
                        }
                    },
                },
                "Output": "{% $states.input %}",
            },
        )
        summary = tasks.CallAwsService.jsonata(
            self,
            "ReadSummary",
            service="s3",
            action="getObject",
            parameters={
                "Bucket": self.findings_bucket.bucket_name,
                "Key": f"{{% '{FINDINGS_PREFIX}/day=' & $states.input.day & '/summary.json' %}}",
            },
            iam_resources=[self.findings_bucket.arn_for_objects(f"{FINDINGS_PREFIX}/*")],
            outputs="{% $parse($states.result.Body) %}",
        )
        alert = tasks.SnsPublish.jsonata(
            self,
            "Alert",
            topic=self.findings_topic,
            subject="{% 'chartguard anomalies ' & $states.input.day & ': high-severity findings' %}",
            message=sfn.TaskInput.from_text("{% $states.input.alert %}"),
        )
        decide = (
            sfn.Choice.jsonata(self, "AnyHigh")
            .when(sfn.Condition.jsonata("{% $states.input.alert != null %}"), alert)
            .otherwise(sfn.Succeed(self, "NothingHigh"))
        )
        log_group = logs.LogGroup(self, "RunLogs", retention=logs.RetentionDays.ONE_YEAR)
        machine = sfn.StateMachine(
            self,
            "DailyRun",
            definition_body=sfn.DefinitionBody.from_chainable(day.next(run).next(summary).next(decide)),
            query_language=sfn.QueryLanguage.JSONATA,
            timeout=Duration.minutes(int(JOB_TIMEOUT.to_minutes()) + 30),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL),
        )
        # The .sync integration: start, poll and cancel this application's runs, pass the job its
        # role, and the managed rule Step Functions uses to hear when a run ends.
        machine.add_to_role_policy(
            iam.PolicyStatement(actions=["emr-serverless:StartJobRun"], resources=[application_arn])
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["emr-serverless:GetJobRun", "emr-serverless:CancelJobRun"],
                resources=[f"{application_arn}/jobruns/*"],
            )
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/"
                    "StepFunctionsGetEventsForEMRServerlessJobRule"
                ],
            )
        )
        self.job_role.grant_pass_role(machine.role)
        return machine

    def _acknowledge(
        self, settings: AnomalySettings, package: assets.Asset, entry_point: assets.Asset
    ) -> None:
        stack = self.findings_bucket.stack
        findings_arn = stack.resolve(stack.get_logical_id(self.findings_bucket.node.default_child))  # type: ignore[arg-type]
        findings = f"<{findings_arn}.Arn>"
        application = f"<{stack.resolve(stack.get_logical_id(self.application))}.Arn>"
        reasons = {
            "AwsSolutions-IAM5[Action::s3:GetObject*]": "CDK's read grants (object, versions, tags) on the "
            "logs prefix, the job's code and the findings bucket only.",
            "AwsSolutions-IAM5[Action::s3:GetBucket*]": "CDK's read grants: bucket location of the three buckets.",
            "AwsSolutions-IAM5[Action::s3:List*]": "CDK's read grants: listing the logs and findings buckets "
            "(Spark lists a day's folder).",
            "AwsSolutions-IAM5[Action::s3:DeleteObject*]": "A rerun replaces the day's findings: the job "
            "deletes its own earlier output in the findings bucket.",
            "AwsSolutions-IAM5[Action::s3:Abort*]": "CDK's write grant: abort the job's multipart uploads.",
            f"AwsSolutions-IAM5[Resource::{findings}/*]": "The job writes one folder per day anywhere in "
            "its own findings bucket.",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-"
            "<AWS::Region>/*]": "CDK's asset grant: the job's code objects in the bootstrap bucket.",
        }
        if settings.logs_bucket_name:
            reasons[
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{settings.logs_bucket_name}/{settings.logs_prefix}/*]"
            ] = "Read the exchange's request logs under their prefix, one folder per day."
        else:
            logs_arn = stack.resolve(stack.get_logical_id(self.logs_bucket.node.default_child))  # type: ignore[arg-type]
            reasons[f"AwsSolutions-IAM5[Resource::<{logs_arn}.Arn>/{settings.logs_prefix}/*]"] = (
                "Read the request logs under their prefix, one folder per day."
            )
        acknowledge(self.job_role, reasons)
        acknowledge(
            self.state_machine.role,
            {
                f"AwsSolutions-IAM5[Resource::{application}/jobruns/*]": "Poll and cancel the runs "
                "this state machine starts on its one application.",
                f"AwsSolutions-IAM5[Resource::{findings}/{FINDINGS_PREFIX}/*]": "Read the summary.json of "
                "the day the run analysed.",
                "AwsSolutions-IAM5[Resource::*]": "X-Ray's PutTraceSegments and the log delivery actions "
                "accept no resource (CDK's tracing and logging grants).",
            },
        )

"""Alarms on what stops withdrawals from being scored, to one SNS topic (docs/deploy.md explains each)."""

from __future__ import annotations

from typing import Optional

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants

FIVE_MINUTES = Duration.minutes(5)
# A withdrawal waits on its score: one still unscored after this long means the function is not
# keeping up (or not running at all).
OLDEST_MESSAGE_AGE_SECONDS = 15 * 60
# SageMaker reports ModelLatency in microseconds. One image is a few ms of model time; a p90
# above 1 s for 15 minutes means an overloaded or sick endpoint.
MODEL_LATENCY_P90_MICROSECONDS = 1_000_000
# Dead letters nobody has moved or deleted after this long: the first alarm went unanswered.
DEAD_LETTER_AGE_SECONDS = 2 * 3600
# An invocation this close to the function's timeout is about to lose its whole batch.
DURATION_SHARE_OF_TIMEOUT = 0.8


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        function: lambda_.IFunction,
        endpoint_name: str,
        variant_name: str,
        function_timeout: Duration,
        alarm_email: Optional[str] = None,
        alarm_topic_arn: Optional[str] = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch cannot publish to a topic under the AWS-managed SNS key, hence a key of our
        # own; CloudWatch may use it (the key serves this topic only).
        key = kms.Key(self, "TopicKey", enable_key_rotation=True, description="chartguard alarm topic")
        cloudwatch_service = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        key.grant(cloudwatch_service, "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True)
        # The TLS-only topic policy replaces SNS's default one, so CloudWatch needs an Allow of its
        # own: for this account's alarms only.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsOfThisAccountPublish",
                principals=[cloudwatch_service],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"
                    },
                },
            )
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        # An operator's existing topic (its policy must let CloudWatch publish) gets every alarm too.
        targets: list[sns.ITopic] = [self.topic]
        if alarm_topic_arn:
            targets.append(sns.Topic.from_topic_arn(self, "OperatorTopic", alarm_topic_arn))
        self.alarm_targets: tuple[sns.ITopic, ...] = tuple(targets)  # for other components' alarms

        def function_metric(name: str) -> cloudwatch.Metric:
            """A count the function emits through Powertools (namespace and `service` dimension)."""
            return cloudwatch.Metric(
                namespace=constants.METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": constants.SERVICE_NAME},
                statistic="Sum",
                period=FIVE_MINUTES,
            )

        def endpoint_metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=name,
                dimensions_map={"EndpointName": endpoint_name, "VariantName": variant_name},
                statistic=statistic,
                period=FIVE_MINUTES,
            )

        alarms = {
            "DeadLetters": (
                "Withdrawal messages reached the dead-letter queue: rejected (bad JSON, missing field) "
                "or failed MAX_RECEIVE_COUNT times. Read the function's logs, fix, then redrive.",
                dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                1,
                1,
            ),
            "DeadLetterAge": (
                "A dead letter has waited more than 2 hours: nobody has fixed and redriven it, and its "
                "withdrawal is still unscored.",
                dead_letter_queue.metric_approximate_age_of_oldest_message(
                    period=FIVE_MINUTES, statistic="Maximum"
                ),
                DEAD_LETTER_AGE_SECONDS,
                1,
            ),
            "OldestWithdrawal": (
                "A withdrawal has waited more than 15 minutes for its score.",
                queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES, statistic="Maximum"),
                OLDEST_MESSAGE_AGE_SECONDS,
                1,
            ),
            "FunctionErrors": (
                "The scoring function failed whole invocations (crash, timeout, a store or the endpoint "
                "unavailable): their messages return to the queue.",
                function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                1,
                2,
            ),
            "MessagesFailed": (
                "Withdrawals failed to score (endpoint or store errors, missing market data, the time "
                "budget): they are retried, then dead-lettered. The function's log names each reason.",
                function_metric("MessagesFailed"),
                1,
                2,
            ),
            "FunctionDuration": (
                "Invocations ran close to the function's timeout: a slow dependency; past it a whole "
                "batch is retried.",
                function.metric_duration(period=FIVE_MINUTES, statistic="Maximum"),
                DURATION_SHARE_OF_TIMEOUT * function_timeout.to_milliseconds(),
                1,
            ),
            "FunctionThrottles": (
                "The scoring function was throttled: raise reserved concurrency or the account limit.",
                function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                1,
                2,
            ),
            "Endpoint5xx": (
                "The model endpoint answered 5xx errors: withdrawals are retried, then dead-lettered.",
                endpoint_metric("Invocation5XXErrors", "Sum"),
                1,
                2,
            ),
            "Endpoint4xx": (
                "The model endpoint answered 4xx errors (throttling, a bad request, a model error): "
                "withdrawals are retried, then dead-lettered.",
                endpoint_metric("Invocation4XXErrors", "Sum"),
                1,
                2,
            ),
            "EndpointLatency": (
                "The model endpoint's p90 model latency stayed above 1 s.",
                endpoint_metric("ModelLatency", "p90"),
                MODEL_LATENCY_P90_MICROSECONDS,
                3,
            ),
        }
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for name, (description, metric, threshold, periods) in alarms.items():
            alarm = cloudwatch.Alarm(
                self,
                name,
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            for topic in targets:
                alarm.add_alarm_action(actions.SnsAction(topic))
                alarm.add_ok_action(actions.SnsAction(topic))
            self.alarms[name] = alarm

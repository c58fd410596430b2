"""The withdrawal queue (contract 1) and its dead-letter queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants
from infra.nag import acknowledge


class WithdrawalQueue(Construct):
    """SSE, TLS-only queue whose messages go to a dead-letter queue after MAX_RECEIVE_COUNT tries."""

    def __init__(self, scope: Construct, construct_id: str, *, function_timeout: Duration) -> None:
        super().__init__(scope, construct_id)
        visibility = Duration.seconds(constants.QUEUE_VISIBILITY_TIMEOUT_SECONDS)
        if visibility.to_seconds() < 6 * function_timeout.to_seconds():
            raise ValueError("the queue's visibility timeout must be at least 6 x the function timeout")

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(constants.DEAD_LETTER_RETENTION_DAYS),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=visibility,
            retention_period=Duration.days(constants.QUEUE_RETENTION_DAYS),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=constants.MAX_RECEIVE_COUNT
            ),
        )
        acknowledge(
            self.dead_letter_queue,
            {"AwsSolutions-SQS3": "This is the dead-letter queue; its depth is alarmed."},
        )

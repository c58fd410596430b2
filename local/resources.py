"""The stack's data resources created through the AWS APIs (for the local stack and the tests).

Keys and the risk table's index come from `scoring.contracts`, the redrive setting from
`infra.constants`: the same definitions the CDK constructs use, so nothing is written twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from boto3.dynamodb.types import TypeSerializer

from infra.constants import EVIDENCE_RETENTION_DAYS, MAX_RECEIVE_COUNT
from scoring.contracts import KLINES_TABLE, RISK_TABLE, TRADES_TABLE, TableSpec

# Longer than any local batch takes, so two workers never hold the same message (the deployed
# queue's rule, 6 x the function timeout, serves the same end). A failed message is made visible
# again after LOCAL_RETRY_DELAY_SECONDS by the local event source, so a retry drill takes seconds.
LOCAL_VISIBILITY_TIMEOUT_SECONDS = 60
LOCAL_RETRY_DELAY_SECONDS = 1


@dataclass(frozen=True)
class ResourceNames:
    trades_table: str = "chartguard-trades"
    klines_table: str = "chartguard-klines"
    risk_table: str = "chartguard-risk"
    evidence_bucket: str = "chartguard-evidence"
    queue: str = "chartguard-withdrawals"
    dead_letter_queue: str = "chartguard-withdrawals-dlq"
    endpoint_name: str = "chart-classifier"


DEFAULT_NAMES = ResourceNames()


@dataclass(frozen=True)
class CreatedResources:
    names: ResourceNames
    queue_url: str
    dlq_url: str

    def function_environment(self) -> dict[str, str]:
        """Contract 7's variables for these resources."""
        return {
            "TRADES_TABLE": self.names.trades_table,
            "KLINES_TABLE": self.names.klines_table,
            "RISK_TABLE": self.names.risk_table,
            "EVIDENCE_BUCKET": self.names.evidence_bucket,
            "ENDPOINT_NAME": self.names.endpoint_name,
            "DEAD_LETTER_QUEUE_URL": self.dlq_url,
            "RECORD_RETENTION_DAYS": str(EVIDENCE_RETENTION_DAYS),
        }

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.names), "queue_url": self.queue_url, "dlq_url": self.dlq_url}


def create_table(dynamodb: Any, name: str, spec: TableSpec) -> None:
    keys = {spec.partition, spec.sort}
    for index in spec.indexes:
        keys |= {index.partition, index.sort}
    request: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": k.name, "AttributeType": k.type} for k in sorted(keys, key=lambda k: k.name)
        ],
        "KeySchema": [
            {"AttributeName": spec.partition.name, "KeyType": "HASH"},
            {"AttributeName": spec.sort.name, "KeyType": "RANGE"},
        ],
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition.name, "KeyType": "HASH"},
                    {"AttributeName": index.sort.name, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    dynamodb.create_table(**request)
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})


def create_resources(
    *,
    dynamodb: Any,
    sqs: Any,
    s3: Any,
    names: ResourceNames = DEFAULT_NAMES,
    visibility_timeout: int = LOCAL_VISIBILITY_TIMEOUT_SECONDS,
) -> CreatedResources:
    """Tables, the evidence bucket (write once: compliance-mode Object Lock, as deployed), the
    dead-letter queue and the queue with its redrive policy."""
    for table_name, spec in (
        (names.trades_table, TRADES_TABLE),
        (names.klines_table, KLINES_TABLE),
        (names.risk_table, RISK_TABLE),
    ):
        create_table(dynamodb, table_name, spec)
    s3.create_bucket(Bucket=names.evidence_bucket, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=names.evidence_bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": EVIDENCE_RETENTION_DAYS}},
        },
    )
    dlq_url = sqs.create_queue(QueueName=names.dead_letter_queue)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=names.queue,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
            ),
        },
    )["QueueUrl"]
    return CreatedResources(names=names, queue_url=queue_url, dlq_url=dlq_url)


def put_items(dynamodb: Any, table_name: str, items: Iterable[dict[str, Any]]) -> int:
    """Batch-write items (as `Trade.to_item()` / `Kline.to_item()` give them); returns the count."""
    serializer = TypeSerializer()
    written = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        requests = {table_name: batch[:]}
        for attempt in range(10):
            unprocessed = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems", {})
            if not unprocessed:
                return
            requests = unprocessed
            time.sleep(0.05 * 2**attempt)
        raise RuntimeError(f"{table_name}: batch write left items unprocessed after 10 attempts")

    for item in items:
        batch.append({"PutRequest": {"Item": {k: serializer.serialize(v) for k, v in item.items()}}})
        written += 1
        if len(batch) == 25:
            flush()
            batch.clear()
    if batch:
        flush()
    return written

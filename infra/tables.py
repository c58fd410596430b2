"""The trades, klines and risk tables (contracts 2-4), built from scoring.contracts' key specs."""

from __future__ import annotations

from typing import Optional

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from scoring.contracts import KLINES_TABLE, RISK_EXPIRES_AT, RISK_TABLE, TRADES_TABLE, Key, TableSpec

_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}


def _attribute(key: Key) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


def _table(scope: Construct, spec: TableSpec, time_to_live_attribute: Optional[str] = None) -> dynamodb.Table:
    """On-demand, point-in-time recovery, AWS-managed encryption; retained if the stack is deleted."""
    table = dynamodb.Table(
        scope,
        spec.logical_name,
        partition_key=_attribute(spec.partition),
        sort_key=_attribute(spec.sort),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        deletion_protection=True,
        removal_policy=RemovalPolicy.RETAIN,
        time_to_live_attribute=time_to_live_attribute,
    )
    for index in spec.indexes:
        table.add_global_secondary_index(
            index_name=index.name,
            partition_key=_attribute(index.partition),
            sort_key=_attribute(index.sort),
            projection_type=dynamodb.ProjectionType.ALL,  # analysts read whole records from the index
        )
    return table


class DataTables(Construct):
    """Trades and klines (written by the exchange's data feed, read by the function) and the risk
    table (written by the function, read by analysts; contract 4's `by-day` index). A risk
    record expires (DynamoDB TTL on `expires_at`) when its evidence images do.

    All three are retained when the stack is deleted, and deletion-protected: the risk table is
    the analysts' work queue and audit trail, and the other two are the exchange's records.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.trades = _table(self, TRADES_TABLE)
        self.klines = _table(self, KLINES_TABLE)
        self.risk = _table(self, RISK_TABLE, time_to_live_attribute=RISK_EXPIRES_AT)

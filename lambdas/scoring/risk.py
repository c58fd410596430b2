"""The risk-table write (contract 4) and the evidence images it points at (S3).

Each is written once. A withdrawal that already has a record (a redelivery, or the same
withdrawal resent with another or no requested_at) gets nothing written. An image's key holds
the withdrawal's requested_at and a digest of its bytes, and is put only if the key is free (the
bucket's Object Lock keeps it unchanged after): a record points at exactly the images it scored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Mapping, Optional
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from scoring.clients import raise_translated
from scoring.contracts import DETECTOR, RISK_EXPIRES_AT, RISK_TABLE
from scoring.dynamodb_types import to_attribute
from scoring.fanout import fan_out
from scoring.market import format_utc


@dataclass(frozen=True)
class RiskFlag:
    """Everything the risk record says about one flagged withdrawal."""

    user_id: str
    withdrawal_id: str
    requested_at: datetime  # UTC
    scored_at: datetime  # UTC
    score: float
    threshold: float
    symbol_scores: Mapping[str, float]
    trade_count: int
    window_start: datetime
    window_end: datetime
    endpoint: str
    render_version: str
    amount: Optional[str] = None
    asset: Optional[str] = None
    message_id: Optional[str] = None
    counterparties: tuple[str, ...] = field(default_factory=tuple)
    detector: str = DETECTOR
    # symbol -> each model's own P(hacker), when the endpoint fuses ({"chart": p, "round_trip": p})
    components: Optional[Mapping[str, Mapping[str, float]]] = None
    round_trip: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # symbol -> features
    reasons: tuple[str, ...] = field(default_factory=tuple)
    invalid_trade_count: int = 0  # stored trades of the window left out (they break contract 2)

    @property
    def event_key(self) -> str:
        """Deterministic: a redelivered message maps to the same record."""
        return f"{format_utc(self.requested_at)}#{self.withdrawal_id}"

    @property
    def day(self) -> str:
        return format_utc(self.requested_at)[:10]

    def evidence_key(self, symbol: str, png: bytes) -> str:
        """`evidence/<day>/<user>/<withdrawal>/<requested_at>/<digest>/<symbol>.png`, each part quoted."""
        digest = hashlib.sha256(png).hexdigest()[:EVIDENCE_DIGEST_CHARS]
        parts = (self.day, self.user_id, self.withdrawal_id, format_utc(self.requested_at), digest, symbol)
        return "evidence/{}/{}/{}/{}/{}/{}.png".format(*(quote(p, safe="") for p in parts))


# 64 bits of SHA-256: tells apart the few images one withdrawal could ever have.
EVIDENCE_DIGEST_CHARS = 16


def _number(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def risk_item(flag: RiskFlag, evidence: list[str], expires_at: Optional[int] = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        RISK_TABLE.partition.name: flag.user_id,
        RISK_TABLE.sort.name: flag.event_key,
        "withdrawal_id": flag.withdrawal_id,
        "requested_at": format_utc(flag.requested_at),
        "scored_at": format_utc(flag.scored_at),
        "score": _number(flag.score),
        "threshold": _number(flag.threshold),
        "symbol_scores": {symbol: _number(p) for symbol, p in sorted(flag.symbol_scores.items())},
        "trade_count": flag.trade_count,
        "window_start": format_utc(flag.window_start),
        "window_end": format_utc(flag.window_end),
        "endpoint": flag.endpoint,
        "render_version": flag.render_version,
        "evidence": evidence,
        "detector": flag.detector,
        "day": flag.day,
        "status": "open",
    }
    optional = {
        "amount": flag.amount,
        "asset": flag.asset,
        "sqs_message_id": flag.message_id,
        "counterparties": sorted(flag.counterparties) or None,
        "components": {
            symbol: {name: _number(p) for name, p in sorted(parts.items())}
            for symbol, parts in sorted(flag.components.items())
        }
        if flag.components
        else None,
        "round_trip": {
            symbol: {name: _number(value) for name, value in features.items()}
            for symbol, features in sorted(flag.round_trip.items())
        }
        or None,
        "reasons": list(flag.reasons) or None,
        "invalid_trade_count": flag.invalid_trade_count or None,
        RISK_EXPIRES_AT: expires_at,
    }
    item.update({name: value for name, value in optional.items() if value is not None})
    return item


class RiskRecorder:
    """Looks for the withdrawal's record; if there is none, puts the evidence PNGs (each only if
    its key is free), then the risk record (conditional put on the deterministic key)."""

    def __init__(
        self, *, dynamodb: Any, s3: Any, table_name: str, bucket: str, retention_days: Optional[int] = None
    ):
        self._dynamodb = dynamodb
        self._s3 = s3
        self._table = table_name
        self._bucket = bucket
        # A record expires (DynamoDB TTL) when the bucket's lifecycle expires its images.
        self._retention = timedelta(days=retention_days) if retention_days else None

    def record(self, flag: RiskFlag, images: Mapping[str, bytes]) -> bool:
        """True if this call wrote the record, False if the withdrawal already had one."""
        if self.recorded(flag.user_id, flag.withdrawal_id):
            return False
        # Evidence first: a record never points at an image that is not there.
        evidence = fan_out(lambda symbol: self._put_evidence(flag, symbol, images[symbol]), sorted(images))

        expires_at = int((flag.scored_at + self._retention).timestamp()) if self._retention else None
        item = risk_item(flag, evidence, expires_at)
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={name: to_attribute(value) for name, value in item.items()},
                ConditionExpression="attribute_not_exists(#sk)",
                ExpressionAttributeNames={"#sk": RISK_TABLE.sort.name},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise_translated(error, f"put risk record {flag.user_id}/{flag.event_key}")
        except BotoCoreError as error:
            raise_translated(error, f"put risk record {flag.user_id}/{flag.event_key}")
        return True

    def recorded(self, user_id: str, withdrawal_id: str) -> bool:
        """Whether the account has a risk record of this withdrawal, whatever its requested_at."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "FilterExpression": "#w = :w",
            "ProjectionExpression": "#sk",
            "ExpressionAttributeNames": {
                "#pk": RISK_TABLE.partition.name,
                "#sk": RISK_TABLE.sort.name,
                "#w": "withdrawal_id",
            },
            "ExpressionAttributeValues": {":pk": {"S": user_id}, ":w": {"S": withdrawal_id}},
        }
        while True:  # the filter applies per page: an account's many records can take several
            try:
                page = self._dynamodb.query(**query)
            except (ClientError, BotoCoreError) as error:
                raise_translated(error, f"look for the risk record of {user_id}/{withdrawal_id}")
            if page.get("Items"):
                return True
            if "LastEvaluatedKey" not in page:
                return False
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _put_evidence(self, flag: RiskFlag, symbol: str, png: bytes) -> str:
        key = flag.evidence_key(symbol, png)
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=png,
                ContentType="image/png",
                # Object Lock asks every put for a checksum; older SDKs send none unless told.
                ChecksumAlgorithm="SHA256",
                IfNoneMatch="*",  # never replace an image: the key names its bytes
                Metadata={
                    "withdrawal-id": quote(flag.withdrawal_id),
                    "render-version": flag.render_version,
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "PreconditionFailed":
                raise_translated(error, f"put evidence s3://{self._bucket}/{key}")
            # Already there from an earlier try of this withdrawal: the same bytes, by its key.
        except BotoCoreError as error:
            raise_translated(error, f"put evidence s3://{self._bucket}/{key}")
        return f"s3://{self._bucket}/{key}"

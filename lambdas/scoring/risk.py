"""The risk-table write (contract 4) and the evidence images it points at (S3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Mapping, Optional
from urllib.parse import quote

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from scoring.clients import raise_translated
from scoring.contracts import DETECTOR, RISK_TABLE
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

    @property
    def event_key(self) -> str:
        """Deterministic: a redelivered message maps to the same record."""
        return f"{format_utc(self.requested_at)}#{self.withdrawal_id}"

    @property
    def day(self) -> str:
        return format_utc(self.requested_at)[:10]

    def evidence_key(self, symbol: str) -> str:
        parts = (self.day, self.user_id, self.withdrawal_id, symbol)
        return "evidence/{}/{}/{}/{}.png".format(*(quote(p, safe="") for p in parts))


def _number(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def risk_item(flag: RiskFlag, evidence: list[str]) -> dict[str, Any]:
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
    }
    item.update({name: value for name, value in optional.items() if value is not None})
    return item


class RiskRecorder:
    """Puts the evidence PNGs, then the risk record once (conditional put on the deterministic key)."""

    def __init__(self, *, dynamodb: Any, s3: Any, table_name: str, bucket: str):
        self._dynamodb = dynamodb
        self._s3 = s3
        self._table = table_name
        self._bucket = bucket
        self._serializer = TypeSerializer()

    def record(self, flag: RiskFlag, images: Mapping[str, bytes]) -> bool:
        """True if this call wrote the record, False if a previous delivery already had."""
        # Evidence first: a record never points at an image that is not there. Keys are
        # deterministic, so a retry rewrites the same objects instead of adding new ones.
        evidence = fan_out(lambda symbol: self._put_evidence(flag, symbol, images[symbol]), sorted(images))

        item = risk_item(flag, evidence)
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={name: self._serializer.serialize(value) for name, value in item.items()},
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

    def _put_evidence(self, flag: RiskFlag, symbol: str, png: bytes) -> str:
        key = flag.evidence_key(symbol)
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=png,
                ContentType="image/png",
                Metadata={
                    "withdrawal-id": quote(flag.withdrawal_id),
                    "render-version": flag.render_version,
                },
            )
        except (ClientError, BotoCoreError) as error:
            raise_translated(error, f"put evidence s3://{self._bucket}/{key}")
        return f"s3://{self._bucket}/{key}"

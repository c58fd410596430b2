"""Python values to and from DynamoDB's attribute values (`{"S": "x"}`, `{"N": "1.5"}`, ...).

The conversions of boto3.dynamodb.types (TypeSerializer, TypeDeserializer), value for value, so
that the function needs botocore alone: importing anything of boto3 imports boto3 itself, and
with it s3transfer, which the function never uses (docs/performance.md). The tests hold the two
to the same answers. One difference: a binary attribute reads back as `bytes`, not boto3's Binary.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB's number range and precision; a number it cannot store exactly is refused, not rounded.
DYNAMODB_CONTEXT = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)


def _number(value: Any) -> str:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    number = DYNAMODB_CONTEXT.create_decimal(value)
    if number.is_infinite() or number.is_nan():
        raise TypeError("Infinity and NaN not supported")
    return str(number)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal, float)) and not isinstance(value, bool)


def to_attribute(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value; TypeError for what DynamoDB cannot hold."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {key: to_attribute(member) for key, member in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_attribute(member) for member in value]}
    if isinstance(value, Set) and value:
        if all(_is_number(member) for member in value):
            return {"NS": [_number(member) for member in value]}
        if all(isinstance(member, str) for member in value):
            return {"SS": list(value)}
        if all(isinstance(member, (bytes, bytearray)) for member in value):
            return {"BS": [bytes(member) for member in value]}
    raise TypeError(f"Unsupported type {type(value)} for value {value!r}")


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as a Python value (numbers as Decimal, as boto3 reads them)."""
    if len(attribute) != 1:
        raise TypeError(f"an attribute value has exactly one type, got {sorted(attribute)}")
    ((kind, value),) = attribute.items()
    if kind in ("S", "BOOL", "B"):
        return value
    if kind == "N":
        return DYNAMODB_CONTEXT.create_decimal(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {key: from_attribute(member) for key, member in value.items()}
    if kind == "L":
        return [from_attribute(member) for member in value]
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {DYNAMODB_CONTEXT.create_decimal(member) for member in value}
    if kind == "BS":
        return set(value)
    raise TypeError(f"Dynamodb type {kind} is not supported")

"""Acknowledged cdk-nag findings: each with a one-line reason, next to the resource it concerns."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, reasons: Mapping[str, str]) -> None:
    """`{"AwsSolutions-IAM5[Resource::*]": "why", ...}` on `scope` (cdk-nag v3's finding IDs)."""
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule, reason=why) for rule, why in reasons.items()))

"""Where the tools find the stack: resource names from the environment, clients as the function makes them (scoring.clients).

Against AWS, export the stack's outputs (see docs/deploy.md); against the local stack, source
`.local/stack.env`, which also sets AWS_ENDPOINT_URL so every boto3 client reaches it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from scoring.clients import describe_error, new_client

LOCAL_ENV_FILE = ".local/stack.env"


class UserError(Exception):
    """A problem the user can fix (bad input, missing configuration): printed without a traceback."""


@dataclass(frozen=True)
class StackConfig:
    trades_table: Optional[str]
    klines_table: Optional[str]
    risk_table: Optional[str]
    evidence_bucket: Optional[str]
    endpoint_name: Optional[str]
    queue_url: Optional[str]
    dlq_url: Optional[str]

    @classmethod
    def from_environ(cls, environ: Optional[Mapping[str, str]] = None) -> StackConfig:
        env = os.environ if environ is None else environ
        return cls(
            trades_table=env.get("TRADES_TABLE"),
            klines_table=env.get("KLINES_TABLE"),
            risk_table=env.get("RISK_TABLE"),
            evidence_bucket=env.get("EVIDENCE_BUCKET"),
            endpoint_name=env.get("ENDPOINT_NAME"),
            queue_url=env.get("QUEUE_URL"),
            dlq_url=env.get("DLQ_URL"),
        )

    def require(self, field: str) -> str:
        """The named setting, or a UserError that says which variable to set and how."""
        value = getattr(self, field)
        if not value:
            variable = field.upper()
            raise UserError(
                f"{variable} is not set: `source {LOCAL_ENV_FILE}` for the local stack, "
                f"or export the deployed stack's output (docs/deploy.md)"
            )
        return str(value)


def client(service: str) -> Any:
    """A client from the default chain, with the function's retry configuration (scoring.clients)."""
    return new_client(service)


def aws_error(action: str, error: Exception) -> UserError:
    """A failed AWS call as a UserError naming what was attempted (the function's wording)."""
    return UserError(describe_error(error, action))

"""The SageMaker endpoint call (contract 6): one chart PNG in, P(hacker) out."""

from __future__ import annotations

import json
import math
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scoring.clients import raise_translated
from scoring.contracts import CLASS_ORDER, HACKER_CLASS_INDEX
from scoring.errors import EndpointContractError


def hacker_probability_from_response(body: bytes) -> float:
    """Contract 6: a JSON array of class probabilities in the order ("hacker", "normal")."""
    try:
        probabilities = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise EndpointContractError(f"endpoint answered with non-JSON: {body[:80]!r}") from error
    if (
        not isinstance(probabilities, list)
        or len(probabilities) != len(CLASS_ORDER)
        or not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in probabilities)
    ):
        raise EndpointContractError(
            f"endpoint answered {str(probabilities)[:80]}, not {len(CLASS_ORDER)} numbers"
        )
    if not all(math.isfinite(p) and -1e-6 <= p <= 1 + 1e-6 for p in probabilities):
        raise EndpointContractError(f"endpoint answered probabilities outside [0, 1]: {probabilities}")
    if abs(sum(probabilities) - 1.0) > 1e-3:
        raise EndpointContractError(f"endpoint's probabilities do not sum to 1: {probabilities}")
    return min(1.0, max(0.0, float(probabilities[HACKER_CLASS_INDEX])))


class SageMakerPredictor:
    def __init__(self, runtime: Any, endpoint_name: str):
        self._runtime = runtime
        self.endpoint_name = endpoint_name

    def hacker_probability(self, png: bytes) -> float:
        try:
            response = self._runtime.invoke_endpoint(
                EndpointName=self.endpoint_name,
                ContentType="image/png",
                Accept="application/json",
                Body=png,
            )
            body = response["Body"].read()
        except (ClientError, BotoCoreError) as error:
            raise_translated(error, f"invoke endpoint {self.endpoint_name}")
        return hacker_probability_from_response(body)

"""The SageMaker endpoint call (contract 6): one chart PNG in, P(hacker) out.

An endpoint whose artifact also carries the round-trip model (the deployment says so:
`ENDPOINT_FUSES`) is sent contract 6's JSON variant instead, the image beside the symbol's
round-trip features, and answers the fused P(hacker) with each model's own.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from botocore.exceptions import BotoCoreError, ClientError

from scoring.clients import raise_translated
from scoring.contracts import CLASS_ORDER, DETECTOR, FUSED_DETECTOR, HACKER_CLASS_INDEX
from scoring.errors import EndpointContractError

COMPONENTS = ("chart", "round_trip")


@dataclass(frozen=True)
class EndpointScore:
    """P(hacker) the endpoint answered for one chart, and each model's own when it fuses."""

    probability: float
    components: Optional[Mapping[str, float]] = None


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
    return _probability(probabilities[HACKER_CLASS_INDEX])


def _probability(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def fused_score_from_response(body: bytes) -> EndpointScore:
    """Contract 6's JSON variant: {"probabilities": [p_hacker, p_normal], "components": {...}}."""
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise EndpointContractError(f"endpoint answered with non-JSON: {body[:80]!r}") from error
    if not isinstance(answer, dict) or not isinstance(answer.get("components"), dict):
        raise EndpointContractError(f"endpoint answered {str(answer)[:80]}, not probabilities and components")
    probability = hacker_probability_from_response(json.dumps(answer.get("probabilities")).encode())
    parts = answer["components"]
    if set(parts) != set(COMPONENTS) or not all(
        isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p) and 0 <= p <= 1
        for p in parts.values()
    ):
        raise EndpointContractError(
            f"endpoint answered components {str(parts)[:80]}, not {COMPONENTS} in [0, 1]"
        )
    return EndpointScore(probability, {name: _probability(parts[name]) for name in COMPONENTS})


class SageMakerPredictor:
    def __init__(self, runtime: Any, endpoint_name: str, fuses: bool = False):
        self._runtime = runtime
        self.endpoint_name = endpoint_name
        self.fuses = fuses  # the artifact carries the round-trip model: send the JSON variant
        self.detector = FUSED_DETECTOR if fuses else DETECTOR

    def _invoke(self, body: bytes, content_type: str) -> bytes:
        try:
            response = self._runtime.invoke_endpoint(
                EndpointName=self.endpoint_name,
                ContentType=content_type,
                Accept="application/json",
                Body=body,
            )
            return bytes(response["Body"].read())
        except (ClientError, BotoCoreError) as error:
            raise_translated(error, f"invoke endpoint {self.endpoint_name}")

    def hacker_probability(self, png: bytes) -> float:
        return hacker_probability_from_response(self._invoke(png, "image/png"))

    def score(self, png: bytes, round_trip: Mapping[str, float]) -> EndpointScore:
        """The image alone, or beside its round-trip features when the endpoint fuses."""
        if not self.fuses:
            return EndpointScore(self.hacker_probability(png))
        request = {"image": base64.b64encode(png).decode("ascii"), "round_trip": dict(round_trip)}
        return fused_score_from_response(self._invoke(json.dumps(request).encode(), "application/json"))

"""Shared test settings: the function's environment, and no real AWS credentials anywhere."""

from __future__ import annotations

import pytest

FUNCTION_ENV = {
    "TRADES_TABLE": "chartguard-trades",
    "KLINES_TABLE": "chartguard-klines",
    "RISK_TABLE": "chartguard-risk",
    "EVIDENCE_BUCKET": "chartguard-evidence",
    "ENDPOINT_NAME": "chart-classifier",
    "POWERTOOLS_SERVICE_NAME": "chartguard-scoring",
    "POWERTOOLS_METRICS_NAMESPACE": "Chartguard",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


@pytest.fixture
def function_env(monkeypatch):
    """Contract 7's variables for one test, with the function's caches cleared before and after."""
    from scoring import handler
    from scoring.clients import client
    from scoring.settings import get_settings

    caches = (get_settings, handler.collaborators, handler.dead_letter_queue, client)
    for name, value in FUNCTION_ENV.items():
        monkeypatch.setenv(name, value)
    for cache in caches:
        cache.cache_clear()
    yield FUNCTION_ENV
    for cache in caches:
        cache.cache_clear()

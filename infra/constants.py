"""Settings the CDK stack and the local stack share, so neither writes them twice.

Pure Python (no aws_cdk import): the local stack and the tests read these too. Table keys and the
risk table's index live in scoring.contracts; this module holds the deployment's numbers.
"""

from __future__ import annotations

# --- the runtime switch (CDK context `python`; `make layer LAMBDA_PYTHON=...`) ---
# 3.9 as the design card asks. AWS deprecated python3.9 on 2025-12-15; creating functions on it is
# blocked from 2027-02-01 and updating them from 2027-03-03 (docs/deploy.md).
DEFAULT_PYTHON = "3.9"
SUPPORTED_PYTHONS = ("3.9", "3.12", "3.13")
PYTHON_DEPRECATION = {"3.9": "2025-12-15"}

# --- the scoring function ---
# A batch of 10 withdrawals is ~10 x (2 queries + a few renders at 2-3 ms + a few endpoint calls)
# = a few seconds; 60 s leaves room for a slow endpoint without letting a stuck call hold a batch.
FUNCTION_TIMEOUT_SECONDS = 60
# 1769 MB is one full vCPU (Lambda allots CPU in proportion to memory): the cold start's imports
# (~0.5 s of CPU-bound work at one vCPU) and the renders are single-threaded, so more buys nothing
# and less stretches the cold start. Peak resident memory after import + a render: 110 MB.
FUNCTION_MEMORY_MB = 1769
# Where the function writes evidence images in the bucket; its grant covers this prefix only.
EVIDENCE_PREFIX = "evidence/"
SERVICE_NAME = "chartguard-scoring"
# Back-pressure: the queue's event source starts at most this many concurrent invocations per
# endpoint instance by default. Each calls the endpoint for up to 4 symbols at once, so one
# instance sees at most 4 x this many requests, and a backlog drains at that pace instead of
# throttling the endpoint harder.
MAX_CONCURRENCY_PER_ENDPOINT_INSTANCE = 5
METRICS_NAMESPACE = "Chartguard"

# --- the withdrawal queue (SQS) ---
BATCH_SIZE = 10
# Waiting at most 1 s to fill a batch: withdrawals are waiting on the score.
MAX_BATCHING_WINDOW_SECONDS = 1
# Lambda's guidance: at least 6 x the function timeout, so a batch still in flight (and its
# retries inside the event source mapping) is not handed to a second invocation.
QUEUE_VISIBILITY_TIMEOUT_SECONDS = 6 * FUNCTION_TIMEOUT_SECONDS
# A message that failed this many receives goes to the dead-letter queue. Each retry waits one
# visibility timeout (6 min), so an endpoint or table outage is retried for about half an hour.
MAX_RECEIVE_COUNT = 5
# An outage over a long weekend (Friday evening to Tuesday morning) loses no withdrawal.
QUEUE_RETENTION_DAYS = 7
# SQS keeps a message's first enqueue time when it moves to the dead-letter queue, so the DLQ
# keeps messages for the maximum, longer than the source queue.
DEAD_LETTER_RETENTION_DAYS = 14

# --- the evidence bucket ---
# Evidence PNGs are ~2 KB: too small for a cheaper storage class to pay; they expire after the
# five years that exchanges' record-keeping rules commonly ask for (CDK context overrides it).
EVIDENCE_RETENTION_DAYS = 5 * 365

# --- the model endpoint ---
DEFAULT_ENDPOINT_VARIANT = "AllTraffic"
DEFAULT_ENDPOINT_INSTANCE_TYPE = "ml.m5.large"

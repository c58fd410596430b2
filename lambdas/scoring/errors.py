"""The few outcomes the decision code understands, whatever AWS said.

Every exception here fails the one SQS record it concerns (a batch item failure); SQS redelivers
it and, after the queue's maxReceiveCount, redrives it to the dead-letter queue. The class says
why, for the log and the metrics: nothing is ever turned into a "clean" verdict.
"""

from __future__ import annotations


class ScoringError(Exception):
    """Base of the failures of one withdrawal; `reason` is a short code for logs and metrics."""

    reason = "error"
    # Retrying cannot help: the function sends the message to the dead-letter queue itself, with
    # this reason, instead of failing it MAX_RECEIVE_COUNT times.
    dead_letter_at_once = False


class RejectedMessage(ScoringError):
    """The message itself is bad (not JSON, a missing or malformed field): retrying cannot help."""

    reason = "rejected"
    dead_letter_at_once = True


class RetryLater(ScoringError):
    """A transient failure (throttling, 5xx, timeout) that outlived botocore's retries."""

    reason = "retry-later"


class MissingMarketData(RetryLater):
    """The account traded a symbol whose 5-minute klines are missing for (part of) the window.

    Scoring without them would judge the account on a wrong picture, so the record fails and is
    retried until the market data arrives (or it ends in the dead-letter queue).
    """

    reason = "missing-market-data"


class EndpointContractError(RetryLater):
    """The endpoint answered, but not with contract 6's probabilities: a deployment problem."""

    reason = "endpoint-contract"


class InvalidStoredRecord(RetryLater):
    """A trade or kline in the tables breaks contract 2 or 3; an operator must fix the data."""

    reason = "invalid-stored-record"


class ConfigurationProblem(RetryLater):
    """A table, bucket or endpoint the function was configured with does not exist or denies access."""

    reason = "configuration"


class OverLimit(ScoringError):
    """The account traded more symbols, or more times, in the window than one withdrawal is scored
    on: held for a person to review (dead-lettered at once with this reason), never passed."""

    reason = "over-limit"
    dead_letter_at_once = True


class OutOfTime(RetryLater):
    """Too little of the invocation's time is left to finish this withdrawal's next step: it fails
    now and is redelivered, instead of the whole batch timing out."""

    reason = "time-budget"

"""A message that retrying cannot help goes to the dead-letter queue at once, with its reason.

Powertools' batch processor can only report a record as failed, which SQS then redelivers
MAX_RECEIVE_COUNT times before its redrive moves it. For a rejected message (and one held for
review) the function sends the body to the dead-letter queue itself, with the reason, the detail
and the original message id as message attributes, and then reports the record as done. If that
send fails, the record fails as before and reaches the dead-letter queue by the redrive.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scoring.clients import raise_translated

# SQS message attribute values are at most the message's size; a detail this long says enough.
MAX_DETAIL_CHARS = 2000


class DeadLetterQueue:
    def __init__(self, sqs: Any, queue_url: str):
        self._sqs = sqs
        self.queue_url = queue_url

    def send(self, body: str, *, reason: str, detail: str, message_id: str, receive_count: str) -> str:
        """Send `body` with its reason; returns the dead letter's message id (RetryLater if it fails)."""
        attributes = {
            "reason": reason,
            "detail": detail[:MAX_DETAIL_CHARS] or reason,
            "source_message_id": message_id,
            "receive_count": receive_count,
        }
        try:
            response = self._sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=body,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
                },
            )
        except (ClientError, BotoCoreError) as error:
            raise_translated(error, f"send message {message_id} to the dead-letter queue")
        return str(response["MessageId"])

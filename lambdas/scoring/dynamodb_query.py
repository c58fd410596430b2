"""Every item of a DynamoDB Query, deserialized, following LastEvaluatedKey (the function's and the analysts' reads)."""

from __future__ import annotations

from typing import Any, Iterator, Optional

from botocore.exceptions import BotoCoreError, ClientError

from scoring.clients import raise_translated
from scoring.dynamodb_types import from_attribute

MAX_PAGE_ITEMS = 1000


def query_items(
    dynamodb: Any, action: str, limit: Optional[int] = None, **query: Any
) -> Iterator[dict[str, Any]]:
    """The items of a Query, page after page; at most `limit` of them (None: all).

    A failed call raises RetryLater or ConfigurationProblem (scoring.clients) naming `action`.
    """
    returned = 0
    while limit is None or returned < limit:
        if limit is not None:
            query["Limit"] = min(limit - returned, MAX_PAGE_ITEMS)
        try:
            page = dynamodb.query(**query)
        except (ClientError, BotoCoreError) as error:
            raise_translated(error, action)
        for item in page.get("Items", []):
            yield {name: from_attribute(value) for name, value in item.items()}
            returned += 1
        if "LastEvaluatedKey" not in page:
            return
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

"""The alert an admin's phone receives when a day has high-severity findings (SNS).

The job writes the message into summary.json (`alert`), so in AWS the state machine that ran
the job publishes it; locally `chartguard anomalies run --alert-topic ARN` publishes it itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from anomalies.findings import Finding

SHOWN = 5
SUBJECT_LIMIT = 100  # SNS's limit for a subject


def alert_message(summary: dict[str, Any], found: Sequence[Finding]) -> Optional[str]:
    """A short text naming the high-severity findings; None when there is none."""
    high = [f for f in found if f.severity == "high"]
    if not high:
        return None
    lines = [
        f"chartguard anomalies {summary['day']}: {len(high)} high-severity finding(s) in {summary['rows_read']:,} requests"
    ]
    lines += [f"- [{f.kind}] {f.detail}" for f in high[:SHOWN]]
    if len(high) > SHOWN:
        lines.append(
            f"... and {len(high) - SHOWN} more: chartguard anomalies findings --day {summary['day']}"
        )
    return "\n".join(lines)


def publish_alert(sns: Any, topic_arn: str, summary: dict[str, Any]) -> Optional[str]:
    """Publish the summary's alert, if any, to the topic; returns the SNS message id."""
    message = summary.get("alert")
    if not message:
        return None
    subject = f"chartguard anomalies {summary['day']}: high-severity findings"[:SUBJECT_LIMIT]
    response = sns.publish(TopicArn=topic_arn, Subject=subject, Message=message)
    return str(response["MessageId"])

"""Lambda's context object for local runs and tests: the attributes Powertools reads."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str = "chartguard-scoring"
    memory_limit_in_mb: int = 1024
    timeout_seconds: int = 60
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:chartguard-scoring"
    log_group_name: str = "/aws/lambda/chartguard-scoring"
    log_stream_name: str = "local"
    function_version: str = "$LATEST"
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))

"""The function's Powertools Tracer, without the X-Ray SDK where tracing is off.

Powertools' Tracer imports the X-Ray SDK even when tracing is disabled, and that import builds
the SDK's global recorder, whose sampler creates two botocore clients. Where Powertools itself
decides tracing is off (POWERTOOLS_TRACE_DISABLED, or not in Lambda: the local stack, tests,
benchmarks), the Tracer here gets a provider that records nothing and imports nothing. Deployed
with active tracing, it is Powertools' own Tracer with the X-Ray provider, unchanged.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


class _Unrecorded(BaseSegment):
    """A segment nobody records: what a disabled Tracer's decorators write into."""

    def close(self, end_time: Any = None) -> None: ...
    def add_subsegment(self, subsegment: Any) -> None: ...
    def remove_subsegment(self, subsegment: Any) -> None: ...
    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None: ...


class UnrecordedProvider(BaseProvider):
    """A tracing provider that records nothing (for a Tracer that is disabled anyway)."""

    @contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield _Unrecorded()

    @contextmanager
    def in_subsegment_async(self, name: Any = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield _Unrecorded()

    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def patch(self, modules: Sequence[str]) -> None: ...
    def patch_all(self) -> None: ...


def scoring_tracer(service: str) -> Tracer:
    """Powertools' Tracer; when tracing is off by Powertools' own rule, one that never loads X-Ray."""
    if Tracer._is_tracer_disabled():  # the rule Tracer() applies to itself
        return Tracer(service=service, disabled=True, provider=UnrecordedProvider())
    return Tracer(service=service)

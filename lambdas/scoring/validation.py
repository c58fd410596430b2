"""A pydantic ValidationError in one line: `field: problem; ...` (messages, settings, the CLI)."""

from __future__ import annotations

from pydantic import ValidationError


def validation_summary(error: ValidationError) -> str:
    """Each problem as `location: message` (`body` when it is about the whole value), joined by `; `."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors(include_url=False)
    )

#!/usr/bin/env python3
"""The chartguard CDK app: `npx cdk synth|deploy -c key=value ...` (the settings: docs/deploy.md)."""

from __future__ import annotations

import aws_cdk as cdk

from infra.cdk_context import ConfigError
from infra.stack import add_chartguard


def main() -> None:
    app = cdk.App()
    try:
        add_chartguard(app)
    except (ConfigError, FileNotFoundError) as error:
        raise SystemExit(f"chartguard: {error}") from None
    app.synth()


if __name__ == "__main__":
    main()

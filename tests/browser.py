"""Headless Chromium screenshots of the HTML reports, as an analyst's browser would draw them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def screenshot(page: Path, work: Path, *, height: int, timeout: float = 90) -> Path:
    """A 1280-wide PNG of `page` in `work`; the test is skipped where chromium is not installed."""
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("chromium is not on PATH: `make chromium` installs Debian's package")
    shot = work / f"{page.stem}.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={work / 'profile'}",
            f"--screenshot={shot}",
            f"--window-size=1280,{height}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    assert shot.exists()
    return shot

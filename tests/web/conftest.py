"""Fixtures of the browser tests: ``browser``, a headless Debian chromium driven by
Playwright (``web_support.chromium_path`` skips, or fails under CI, when it is missing)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from web_support import CHROMIUM_ARGS, chromium_path


@pytest.fixture
def browser() -> Iterator[Any]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()

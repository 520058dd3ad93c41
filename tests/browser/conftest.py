"""Fixtures of the browser tests: Debian's Chromium, and fresh pages per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from .support import (
    CHROMIUM,
    DEEP_HEADINGS,
    STORIES,
    WIDE_CONTENT,
    Browsing,
    Site,
    serve,
)

# What the page shows may take a while to come on a busy CI machine; a
# failing expectation waits this long before it fails.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Start Debian's Chromium once for every browser test."""
    with sync_playwright() as playwright:
        # As root, Chromium refuses to start without this; the pages it opens
        # are the test's own server's.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"]
        )
        yield browser
        browser.close()


@pytest.fixture
def browsing(chromium: Browser) -> Iterator[Browsing]:
    """Open pages in fresh browser contexts (no cookies); close them after."""
    opened = Browsing(chromium)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    """Serve a blog of a few posts, a page, and two posts with awkward content.

    Tests that use it only read; the author's journey has a blog of its own.
    """
    with serve((*STORIES, DEEP_HEADINGS, WIDE_CONTENT)) as served:
        yield served

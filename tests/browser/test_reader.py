"""A reader's journey in Chromium, at a phone's and a desktop's size, light and dark.

Index, post, tag, archive, search and feed, by clicking links and typing in the
search box; axe-core checks every page state on the way.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from .support import (
    CHROMIUM,
    COLOR_SCHEMES,
    VIEWPORTS,
    Browsing,
    Site,
    assert_accessible,
    assert_no_console_errors,
    screenshot,
)

# These tests drive Chromium against Apache mod_wsgi-express; make test-fast
# leaves them out, and so does -m "not apache" (for machines without Apache).
pytestmark = [pytest.mark.browser, pytest.mark.apache]

LOOKS = [
    pytest.param(viewport, scheme, id=f"{viewport}-{scheme}")
    for viewport in VIEWPORTS
    for scheme in COLOR_SCHEMES
]


def follow(page: Page, name: str, *, within: str = "main") -> None:
    """Click the link called ``name`` inside ``within`` and wait for its page."""
    page.locator(within).get_by_role("link", name=name, exact=True).first.click()
    page.wait_for_load_state()


@pytest.mark.parametrize(("viewport", "scheme"), LOOKS)
def test_reader_journey(browsing: Browsing, site: Site, viewport: str, scheme: str):
    page = browsing.page(viewport, scheme)
    page.goto(site.url + "/")
    expect(page).to_have_title("homepage")
    posts = page.locator("main").get_by_role(
        "link", name="Baking sourdough at home", exact=True
    )
    expect(posts).to_be_visible()
    expect(page.get_by_text("A starter, flour, water and salt")).to_be_visible()
    assert_accessible(page)
    screenshot(page, f"index-{viewport}-{scheme}")

    follow(page, "Baking sourdough at home")
    expect(page).to_have_url(site.url + "/posts/baking-sourdough-at-home")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Baking sourdough at home"
    )
    expect(page.get_by_role("heading", name="The starter", level=2)).to_be_visible()
    expect(page.locator("article strong")).to_have_text("doubles")
    expect(page.locator("article pre")).to_contain_text("day 2: baked at 250 °C")
    assert_accessible(page)
    screenshot(page, f"post-{viewport}-{scheme}")

    follow(page, "kitchen")
    expect(page.get_by_role("heading", level=1)).to_have_text("Posts tagged “kitchen”")
    expect(page.get_by_text("2 posts")).to_be_visible()
    main = page.locator("main")
    expect(
        main.get_by_role("link", name="Notes on SQLite in WAL mode", exact=True)
    ).to_be_visible()
    expect(
        main.get_by_role("link", name="A walk along the river", exact=True)
    ).to_have_count(0)
    assert_accessible(page)

    follow(page, "Archive", within="header")
    expect(page.get_by_role("heading", level=1)).to_have_text("Archive")
    expect(page.get_by_role("link", name="March 2026", exact=True)).to_be_visible()
    assert_accessible(page)
    follow(page, "March 2026")
    expect(page.get_by_role("heading", level=1)).to_have_text("Archive: March 2026")
    expect(
        main.get_by_role("link", name="Baking sourdough at home", exact=True)
    ).to_be_visible()
    assert_accessible(page)

    box = page.get_by_role("searchbox", name="Search posts")
    box.click()
    box.type("weir")
    box.press("Enter")
    page.wait_for_load_state()
    expect(page).to_have_url(re.compile(r"/search\?q=weir$"))
    expect(page.get_by_text("1 result for “weir”")).to_be_visible()
    expect(
        main.get_by_role("link", name="A walk along the river", exact=True)
    ).to_be_visible()
    assert_accessible(page)

    with page.expect_navigation() as navigation:
        page.locator("footer").get_by_role("link", name="Feed", exact=True).click()
    response = navigation.value
    assert response is not None and response.ok
    assert response.headers["content-type"].startswith("application/atom+xml")
    expect(page.get_by_text("Baking sourdough at home").first).to_be_visible()
    assert_no_console_errors(browsing)


#: Reader pages the journey does not pass through, and its empty states.
OTHER_PAGES = (
    "/tags",
    "/pages/about",
    "/archive/2026",
    "/search",
    "/search?q=nothing+matches+this",
    "/posts/no-such-post",
)


@pytest.mark.parametrize(("viewport", "scheme"), LOOKS)
def test_other_reader_pages_are_accessible(
    browsing: Browsing, site: Site, viewport: str, scheme: str
):
    page = browsing.page(viewport, scheme)
    for path in OTHER_PAGES:
        page.goto(site.url + path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert_accessible(page)


def test_post_headings_follow_the_title(browsing: Browsing, site: Site):
    page = browsing.page()
    page.goto(site.url + "/posts/deep-headings")
    expect(page.get_by_text("A third-level heading first")).to_be_visible()
    assert_accessible(page)


def test_wide_code_and_tables_scroll_by_keyboard(browsing: Browsing, site: Site):
    page = browsing.page("phone")
    page.goto(site.url + "/posts/wide-code-and-tables")
    expect(page.get_by_role("table")).to_be_attached()
    assert_accessible(page)


def test_pages_find_their_favicon(chromium: Browser, site: Site):
    # A browser asks for a site's favicon once and remembers the answer, so a
    # browser of its own, which has not asked yet.
    browser = chromium.browser_type.launch(
        executable_path=CHROMIUM, args=["--no-sandbox"]
    )
    try:
        browsing = Browsing(browser)
        page = browsing.page()
        page.goto(site.url + "/")
        page.wait_for_load_state("networkidle")
        assert not browsing.console_errors
    finally:
        browser.close()

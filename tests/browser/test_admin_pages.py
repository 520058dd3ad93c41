"""The author's pages in Chromium at a phone's and a desktop's size, light and dark.

Each page state an author meets is checked with axe-core: the login form and its
error, the list of posts, the editor empty, filled, with errors and with a
preview, an earlier version compared, the images and the account page.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from ..support import PASSWORD
from .support import (
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


def log_in(page: Page, site: Site) -> None:
    """Log in as alice through the form."""
    page.goto(site.url + "/admin/login")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Posts")


def open_editor(page: Page, title: str) -> None:
    """Open the post form of ``title`` from the admin list."""
    page.goto(page.url.split("/admin")[0] + "/admin/")
    page.get_by_role("link", name=f"Edit “{title}”").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Edit “{title}”")


@pytest.mark.parametrize(("viewport", "scheme"), LOOKS)
def test_admin_pages_are_accessible(
    browsing: Browsing, site: Site, viewport: str, scheme: str
):
    page = browsing.page(viewport, scheme)
    page.goto(site.url + "/admin/login")
    expect(page.get_by_label("User name")).to_be_visible()
    assert_accessible(page)

    log_in(page, site)
    expect(
        page.get_by_role("row").filter(has_text="A walk along the river")
    ).to_be_visible()
    assert_accessible(page)

    open_editor(page, "Baking sourdough at home")
    expect(page.get_by_label("Body")).to_have_value(re.compile("## The starter"))
    assert_accessible(page)
    screenshot(page, f"editor-{viewport}-{scheme}")

    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_role("region", name="Preview (not saved)")
    expect(preview.get_by_role("heading", name="The starter")).to_be_visible()
    assert_accessible(page)

    # Errors are shown and nothing is saved: a title of spaces, a bad slug.
    page.get_by_label("Title").fill("   ")
    page.get_by_label("Slug").fill("Not a slug!")
    page.get_by_role("button", name="Update").click()
    expect(page.get_by_role("alert")).to_contain_text("The post was not saved")
    assert_accessible(page)

    open_editor(page, "Baking sourdough at home")
    page.get_by_role("link", name="Compare version 1 with the current text").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Version 1 of “Baking sourdough at home”"
    )
    assert_accessible(page)

    for path, title in [
        ("/admin/posts/new", "New post"),
        ("/admin/images/", "Images"),
        ("/admin/account/", "Your account"),
    ]:
        page.goto(site.url + path)
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        assert_accessible(page)
    assert_no_console_errors(browsing)


def test_preview_headings_follow_the_title(browsing: Browsing, site: Site):
    page = browsing.page()
    log_in(page, site)
    page.get_by_role("link", name="Write a new post").click()
    page.get_by_label("Title").fill("Deep")
    page.get_by_label("Body").fill("### A third-level heading first\n\nText.")
    page.get_by_role("button", name="Preview").click()
    expect(
        page.get_by_role("heading", name="A third-level heading first")
    ).to_be_visible()
    assert_accessible(page)

"""An author's journey in Chromium, once with the mouse and once by keyboard alone.

Log in, write a post in Markdown, preview it, upload an image into it, publish
it, read it, rename it (the old address still leads to it), compare and restore
an earlier version, schedule a post, log out. axe-core checks every page state
on the way, forms with errors and empty lists included.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from ..support import PASSWORD
from .support import (
    Actor,
    Browsing,
    KeyboardActor,
    Site,
    assert_accessible,
    assert_no_console_errors,
    png_bytes,
    serve,
)

# These tests drive Chromium against Apache mod_wsgi-express; make test-fast
# leaves them out, and so does -m "not apache" (for machines without Apache).
pytestmark = [pytest.mark.browser, pytest.mark.apache]

BODY = (
    "Day one of a new loaf.\n\n"
    "## Rising\n\n"
    "The dough rose **twice** overnight:\n\n"
    "- at 21 °C\n"
    "- covered\n"
)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """Serve a blog with one author, alice, and no posts yet.

    In this module it stands for the seeded blog of conftest.py, which the
    journeys below would change under the other tests.
    """
    with serve(()) as served:
        yield served


def heading(page: Page):
    """Return the page's h1."""
    return page.get_by_role("heading", level=1)


def test_an_empty_blog(browsing: Browsing, site: Site):
    """Show every empty list with a sentence, to readers and to the author.

    Runs first: the journeys below add posts.
    """
    page = browsing.page()
    for path, empty in [
        ("/", "No posts yet. Check back soon."),
        ("/archive", "Nothing published yet."),
        ("/search?q=bread", "No posts match “bread”."),
    ]:
        page.goto(site.url + path)
        expect(page.locator("main .empty")).to_have_text(empty)
        assert_accessible(page)
    log_in(Actor(page), site)
    expect(page.locator("main .empty")).to_contain_text("No posts yet.")
    assert_accessible(page)


def log_in(actor: Actor, site: Site) -> None:
    """Open the admin area and log in as alice through the form."""
    page = actor.page
    page.goto(site.url + "/admin/")
    expect(heading(page)).to_have_text("Log in")
    actor.type_into(page.get_by_label("User name"), "alice")
    actor.type_into(page.get_by_label("Password"), PASSWORD)
    actor.activate(page.get_by_role("button", name="Log in"))
    expect(heading(page)).to_have_text("Posts")


def open_admin_link(actor: Actor, name: str) -> None:
    """Follow a link of the admin list, from any page, through the site menu."""
    page = actor.page
    actor.activate(page.locator("header").get_by_role("link", name="Admin", exact=True))
    expect(heading(page)).to_have_text("Posts")
    actor.activate(page.locator("main").get_by_role("link", name=name, exact=True))


@pytest.mark.parametrize(
    "actor_kind", [Actor, KeyboardActor], ids=["mouse", "keyboard"]
)
def test_author_journey(browsing: Browsing, site: Site, actor_kind: type[Actor]):
    page = browsing.page()
    actor = actor_kind(page)
    title = f"Sourdough diary by {actor.name}"
    slug = f"sourdough-diary-by-{actor.name}"

    page.goto(site.url + "/admin/")
    expect(heading(page)).to_have_text("Log in")
    actor.type_into(page.get_by_label("User name"), "alice")
    actor.type_into(page.get_by_label("Password"), "not the password")
    actor.activate(page.get_by_role("button", name="Log in"))
    expect(page.get_by_role("alert")).to_be_visible()
    actor.check_accessible()
    actor.type_into(page.get_by_label("Password"), PASSWORD)
    actor.activate(page.get_by_role("button", name="Log in"))
    expect(heading(page)).to_have_text("Posts")
    actor.check_accessible()

    # A title of spaces passes the browser's check and not the blog's.
    actor.activate(page.get_by_role("link", name="Write a new post"))
    expect(heading(page)).to_have_text("New post")
    actor.check_accessible()
    actor.type_into(page.get_by_label("Title"), "   ")
    actor.type_into(page.get_by_label("Body"), BODY)
    actor.activate(page.get_by_role("button", name="Save draft"))
    expect(page.get_by_role("alert")).to_contain_text("The post was not saved")
    expect(page.get_by_label("Body")).to_have_value(BODY.rstrip("\n") + "\n")
    actor.check_accessible()

    actor.type_into(page.get_by_label("Title"), title)
    actor.type_into(page.get_by_label("Tags"), "bread, diary")
    actor.activate(page.get_by_role("button", name="Preview"))
    preview = page.get_by_role("region", name="Preview (not saved)")
    expect(preview.get_by_role("heading", name="Rising")).to_be_visible()
    expect(preview.locator("strong")).to_have_text("twice")
    actor.check_accessible()

    actor.choose_file(page.get_by_label("Image file"), "loaf.png", png_bytes())
    actor.type_into(page.get_by_label("Description"), "A loaf on the board")
    actor.activate(page.get_by_role("button", name="Upload and insert into the body"))
    expect(page.get_by_text("The image was uploaded")).to_be_visible()
    expect(page.get_by_label("Body")).to_have_value(
        re.compile(r"!\[A loaf on the board\]\(/media/[0-9a-f]{32}\.png\)")
    )
    actor.check_accessible()

    actor.activate(page.get_by_role("button", name="Publish"))
    expect(page.get_by_role("status")).to_have_text(f"Published “{title}”. View post")
    expect(heading(page)).to_have_text(f"Edit “{title}”")
    actor.check_accessible()

    # The reader's page, straight from the editor's message.
    actor.activate(page.get_by_role("status").get_by_role("link", name="View post"))
    expect(page).to_have_url(f"{site.url}/posts/{slug}")
    expect(heading(page)).to_have_text(title)
    expect(page.get_by_role("heading", name="Rising")).to_be_visible()
    image = page.get_by_role("img", name="A loaf on the board")
    expect(image).to_be_visible()
    assert image.evaluate("image => image.complete && image.naturalWidth") == 320
    actor.check_accessible()

    # A new title and address; the old address leads to the new one.
    new_title = f"Sourdough notes by {actor.name}"
    new_slug = f"sourdough-notes-by-{actor.name}"
    open_admin_link(actor, f"Edit “{title}”")
    expect(heading(page)).to_have_text(f"Edit “{title}”")
    actor.type_into(page.get_by_label("Title"), new_title)
    actor.type_into(page.get_by_label("Slug"), new_slug)
    actor.activate(page.get_by_role("button", name="Update"))
    expect(page.get_by_role("status")).to_have_text(f"Updated “{new_title}”. View post")
    page.goto(f"{site.url}/posts/{slug}")
    expect(page).to_have_url(f"{site.url}/posts/{new_slug}")
    expect(heading(page)).to_have_text(new_title)

    # The earlier version, compared and restored.
    open_admin_link(actor, f"Edit “{new_title}”")
    actor.activate(
        page.get_by_role("link", name="Compare version 1 with the current text")
    )
    expect(heading(page)).to_have_text(f"Version 1 of “{new_title}”")
    title_diff = page.get_by_role("region", name="Title")
    expect(title_diff.locator("del")).to_have_text(f"-{title}")
    expect(title_diff.locator("ins")).to_have_text(f"+{new_title}")
    actor.check_accessible()
    actor.activate(page.get_by_role("button", name="Restore version 1"))
    expect(page.get_by_role("status")).to_contain_text("Restored version 1")
    expect(heading(page)).to_have_text(f"Edit “{title}”")
    expect(page.get_by_label("Title")).to_have_value(title)
    actor.check_accessible()

    # A post for later: the author sees it scheduled, readers do not see it.
    later = f"Bread for next year by {actor.name}"
    actor.activate(page.locator("header").get_by_role("link", name="Admin", exact=True))
    actor.activate(page.get_by_role("link", name="Write a new post"))
    actor.type_into(page.get_by_label("Title"), later)
    actor.type_into(page.get_by_label("Body"), "Not yet.")
    actor.type_date(page.get_by_label("Publish date"), "2030-01-01T09:00")
    actor.activate(page.get_by_role("button", name="Publish"))
    expect(page.get_by_role("status")).to_have_text(
        f"Scheduled “{later}” for 1 January 2030, 09:00 (UTC)."
    )
    expect(page.get_by_label("Publish date")).to_have_value("2030-01-01T09:00")
    actor.activate(page.locator("header").get_by_role("link", name="Admin", exact=True))
    row = page.get_by_role("row").filter(has_text=later)
    expect(row.get_by_text("scheduled", exact=True)).to_be_visible()
    actor.check_accessible()

    assert_no_console_errors(browsing)
    reader = browsing.page()
    reader.goto(site.url + "/")
    expect(reader.get_by_role("link", name=title, exact=True)).to_be_visible()
    expect(reader.get_by_role("link", name=later, exact=True)).to_have_count(0)
    missing = reader.goto(f"{site.url}/posts/bread-for-next-year-by-{actor.name}")
    assert missing is not None and missing.status == 404

    # Deleting asks first, and can be undone.
    actor.activate(row.get_by_role("link", name=f"Delete “{later}”"))
    expect(heading(page)).to_have_text(f"Delete “{later}”?")
    actor.check_accessible()
    actor.activate(page.get_by_role("button", name=f"Delete “{later}”"))
    expect(page.get_by_role("status")).to_contain_text(f"Deleted “{later}”.")
    expect(page.get_by_role("row").filter(has_text=later)).to_have_count(0)
    actor.activate(page.get_by_role("status").get_by_role("button", name="Undo"))
    expect(page.get_by_role("status")).to_contain_text(f"Restored “{later}”.")
    actor.activate(page.locator("header").get_by_role("link", name="Admin", exact=True))
    expect(page.get_by_role("row").filter(has_text=later)).to_have_count(1)

    actor.activate(page.get_by_role("button", name="Log out"))
    expect(page).to_have_url(site.url + "/")
    expect(page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    page.goto(site.url + "/admin/")
    expect(heading(page)).to_have_text("Log in")

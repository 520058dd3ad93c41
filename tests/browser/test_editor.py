"""The editor in Chromium: nothing lost, a live preview, images pasted in.

Autosave after a killed tab, the expired-login round trip, the live preview
with its preflight list, paste-to-upload, Ctrl+S, the question on leaving,
and axe-core on the editor in each of these states.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from ..support import PASSWORD
from .support import (
    Browsing,
    Site,
    assert_accessible,
    assert_no_console_errors,
    png_bytes,
    serve,
)

pytestmark = [pytest.mark.browser, pytest.mark.apache]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """Serve a blog of its own with one author, alice."""
    with serve(()) as served:
        yield served


def log_in(page: Page, site: Site, start: str = "/admin/") -> None:
    page.goto(site.url + start)
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def new_draft(page: Page, site: Site, title: str) -> str:
    """Save a draft through the form; return its edit address."""
    page.goto(site.url + "/admin/posts/new")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Body").fill("The first words.")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("Draft saved.")
    return page.url


def body(page: Page):
    return page.get_by_role("textbox", name="Body")


def test_autosave_brings_the_text_back_after_a_killed_tab(
    browsing: Browsing, site: Site
):
    page = browsing.page()
    log_in(page, site)
    edit = new_draft(page, site, "Killed tab")
    body(page).fill("An hour of writing that no one saved.")
    expect(page.locator("#editor-status")).to_contain_text("Draft copy autosaved")
    # The tab dies: no beforeunload, no save; the browser goes with it.
    page.context.close()

    # Another browser (logged in anew) gets the server's copy.
    other = browsing.page()
    log_in(other, site, edit.removeprefix(site.url))
    offer = other.get_by_role("region", name="An autosaved copy is newer")
    expect(offer).to_be_visible()
    expect(body(other)).to_have_value("The first words.")
    assert_accessible(other)
    offer.get_by_role("link", name="Restore the autosaved copy").click()
    expect(body(other)).to_have_value("An hour of writing that no one saved.")
    expect(other.get_by_role("status")).to_contain_text("not saved yet")
    # The post itself never changed.
    other.goto(edit + "?x=1")
    expect(body(other)).to_have_value("The first words.")
    assert_no_console_errors(browsing)


def test_the_browser_keeps_what_the_server_never_got(browsing: Browsing, site: Site):
    page = browsing.page()
    log_in(page, site)
    edit = new_draft(page, site, "Offline words")
    context = page.context
    # The tab dies before the idle time that sends the copy to the server.
    body(page).fill("Typed and gone at once.")
    page.close()

    again = context.new_page()
    again.goto(edit)
    offer = again.get_by_role("region", name="This browser kept a newer copy")
    expect(offer).to_be_visible()
    expect(body(again)).to_have_value("The first words.")
    assert_accessible(again)
    offer.get_by_role("button", name="Restore the copy from this browser").click()
    expect(body(again)).to_have_value("Typed and gone at once.")
    expect(offer).to_have_count(0)


def test_an_expired_login_keeps_the_text(browsing: Browsing, site: Site):
    page = browsing.page()
    log_in(page, site)
    page.goto(site.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Written while logged out")
    body(page).fill("Every word of this must come back.")
    # The login expires: the browser drops its session cookie.
    page.context.clear_cookies()

    page.get_by_role("button", name="Save draft").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New post")
    expect(page.get_by_role("status")).to_contain_text("Your login had expired")
    expect(page.get_by_label("Title")).to_have_value("Written while logged out")
    expect(body(page)).to_have_value("Every word of this must come back.")
    assert_accessible(page)
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("Draft saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Edit “Written while logged out”"
    )


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_live_preview_follows_the_typing(browsing: Browsing, site: Site, viewport):
    page = browsing.page(viewport)
    log_in(page, site)
    page.goto(site.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Live")
    body(page).fill(
        "## Rising\n\nThe dough rose **twice**.\n\n![](/static/favicon.svg)"
    )

    preview = page.get_by_role("region", name="Live preview")
    if viewport == "phone":
        expect(body(page)).to_be_visible()
        page.get_by_role("button", name="Show how it looks").click()
        expect(body(page)).to_be_hidden()
    expect(preview.get_by_role("heading", name="Rising")).to_be_visible()
    expect(preview.locator("strong")).to_have_text("twice")
    checklist = page.get_by_role("region", name="Before you publish")
    expect(checklist).to_contain_text("has no description (alt text)")
    expect(checklist).to_contain_text("No summary")
    if viewport == "desktop":
        # Beside the text: both are on screen at once.
        box, text = preview.bounding_box(), body(page).bounding_box()
        assert box and text and box["x"] > text["x"] + text["width"] - 1
    assert_accessible(page)
    # The non-JS Preview button is still there.
    expect(page.locator('button[name="action"][value="preview"]')).to_have_count(1)
    assert_no_console_errors(browsing)


def test_a_pasted_image_is_uploaded_and_inserted_at_the_cursor(
    browsing: Browsing, site: Site
):
    page = browsing.page()
    log_in(page, site)
    page.goto(site.url + "/admin/posts/new")
    body(page).fill("Before.\n\nAfter.")
    body(page).evaluate("area => area.setSelectionRange(9, 9)")
    page.on("dialog", lambda dialog: dialog.accept("A loaf on the board"))

    page.evaluate(
        """async (data) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const file = new File([bytes], "loaf.png", { type: "image/png" });
            const transfer = new DataTransfer();
            transfer.items.add(file);
            const area = document.getElementById("body");
            area.dispatchEvent(new ClipboardEvent("paste", {
                clipboardData: transfer, bubbles: true, cancelable: true,
            }));
        }""",
        base64.b64encode(png_bytes()).decode(),
    )

    expect(body(page)).to_have_value(
        re.compile(
            r"^Before\.\n\n"
            r"!\[A loaf on the board\]\(/media/[0-9a-f]{32}\.png\)"
            r"\n\nAfter\.$"
        )
    )
    expect(page.locator("#editor-status")).to_contain_text("uploaded and added")
    image = page.get_by_role("region", name="Live preview").get_by_role(
        "img", name="A loaf on the board"
    )
    expect(image).to_be_visible()
    assert_no_console_errors(browsing)


def test_a_dropped_image_is_uploaded_too(browsing: Browsing, site: Site):
    page = browsing.page()
    log_in(page, site)
    page.goto(site.url + "/admin/posts/new")
    page.on("dialog", lambda dialog: dialog.accept("Dropped"))

    page.evaluate(
        """async (data) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "drop.png", { type: "image/png" }));
            const area = document.getElementById("body");
            area.dispatchEvent(new DragEvent("drop", {
                dataTransfer: transfer, bubbles: true, cancelable: true,
            }));
        }""",
        base64.b64encode(png_bytes()).decode(),
    )

    expect(body(page)).to_have_value(
        re.compile(r"!\[Dropped\]\(/media/[0-9a-f]{32}\.png\)")
    )


def test_ctrl_s_saves_and_says_so(browsing: Browsing, site: Site):
    page = browsing.page()
    log_in(page, site)
    page.goto(site.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Saved by keyboard")
    body(page).fill("Text.")
    # A listener after the editor's own stops the first save on its way, so
    # the page can be seen while it saves.
    page.evaluate(
        """() => {
            window.sent = [];
            const form = document.getElementById("post-form");
            form.addEventListener("submit", function hold(event) {
                window.sent.push(event.submitter.value);
                event.preventDefault();
                form.removeEventListener("submit", hold);
            });
        }"""
    )

    body(page).press("Control+s")

    expect(page.locator("#save-status")).to_have_text("Saving… (Save draft)")
    assert page.evaluate("window.sent") == ["draft"]
    body(page).press("Control+s")
    expect(page.get_by_role("status")).to_contain_text("Draft saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Edit “Saved by keyboard”"
    )


def test_leaving_with_unsaved_changes_asks_first(browsing: Browsing, site: Site):
    page = browsing.page()
    log_in(page, site)
    edit = new_draft(page, site, "Leaving")
    asked: list[str] = []

    def answer(dialog):
        asked.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", answer)
    # Unchanged: leaving asks nothing.
    page.goto(site.url + "/admin/")
    assert asked == []
    page.goto(edit)
    body(page).fill("Changed.")
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"]
    assert not page.is_closed()

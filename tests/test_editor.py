"""The post form says what it will do and what it did: draft, publish, schedule."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from homepage.core.models import Post, Revision
from homepage.db import session


def stored(app, title: str) -> Post:
    with app.app_context():
        return session.scalars(select(Post).where(Post.title == title)).one()


def buttons(html: str) -> list[str]:
    """Return the post form's submit buttons as (value, label) strings, in order."""
    form = html[html.index('<form class="form"') :]
    form = form[: form.index("</form>")]
    return [
        f"{value}:{re.sub(r'<[^>]+>', '', label).strip()}"
        for value, label in re.findall(
            r'<button type="submit" name="action" value="([a-z]+)"[^>]*>(.*?)</button>',
            form,
        )
    ]


@pytest.fixture
def author(auth):
    auth.login()
    return auth


def test_a_new_post_offers_save_draft_first_then_publish(client, author):
    html = client.get("/admin/posts/new").text
    # Enter in a text field presses the first button: it must never publish.
    assert buttons(html) == ["draft:Save draft", "preview:Preview", "publish:Publish"]
    assert 'name="status" value="draft"' in html
    assert "Not saved yet." in html


def test_save_draft_keeps_it_a_draft_and_says_so(app, client, author):
    response = author.create_post("Thoughts", status="", action="draft")
    assert response.status_code == 302
    assert stored(app, "Thoughts").status == "draft"
    page = client.get(response.headers["Location"]).text
    assert "Draft saved." in page
    assert (
        '<span class="status status-draft">Draft</span> Readers cannot see it.' in page
    )
    assert "View post" not in page
    # A draft still offers the harmless button first.
    assert buttons(page)[0] == "draft:Save draft"


def test_enter_in_a_draft_never_publishes(app, client, author):
    author.create_post("Quiet", action="draft")
    post = stored(app, "Quiet")
    # The browser sends the first button's name and value with Enter; the
    # hidden status is a draft's too.
    response = author.post_form(
        f"/admin/posts/{post.id}/edit",
        title="Quiet",
        body="Still quiet.",
        status="draft",
        action="draft",
    )
    assert response.status_code == 302
    assert stored(app, "Quiet").status == "draft"
    assert client.get("/posts/quiet").status_code == 404


def test_publish_says_published_with_a_link_to_the_live_post(app, client, author):
    author.create_post("Live now", action="draft")
    post = stored(app, "Live now")
    response = author.post_form(
        f"/admin/posts/{post.id}/edit",
        title="Live now",
        body="Hello.",
        status="draft",
        action="publish",
    )
    assert response.status_code == 302
    assert stored(app, "Live now").status == "published"
    page = client.get(response.headers["Location"]).text
    assert 'Published “Live now”. <a href="/posts/live-now">View post</a>' in page
    # The editor shows the post is live, with a link to it.
    assert '<span class="status status-published">Published</span>' in page
    assert '<a href="/posts/live-now">View post<span class="visually-hidden">' in page
    # A published post's first button updates it, keeping it published.
    assert buttons(page) == [
        "save:Update",
        "preview:Preview",
        "unpublish:Unpublish",
    ]
    assert 'name="status" value="published"' in page
    assert client.get("/posts/live-now").status_code == 200


def test_update_of_a_published_post_says_updated(client, author, app):
    author.create_post("Edited", action="publish")
    post = stored(app, "Edited")
    response = author.post_form(
        f"/admin/posts/{post.id}/edit",
        title="Edited",
        body="New words.",
        status="published",
        action="save",
    )
    page = client.get(response.headers["Location"]).text
    assert 'Updated “Edited”. <a href="/posts/edited">View post</a>' in page
    assert stored(app, "Edited").status == "published"


def test_unpublish_takes_it_back_to_a_draft(client, author, app):
    author.create_post("Oops", action="publish")
    post = stored(app, "Oops")
    response = author.post_form(
        f"/admin/posts/{post.id}/edit",
        title="Oops",
        body="b",
        status="published",
        action="unpublish",
    )
    page = client.get(response.headers["Location"]).text
    assert "Unpublished “Oops”: it is a draft again." in page
    assert client.get("/posts/oops").status_code == 404


def test_publish_with_a_future_date_schedules_and_says_when(client, author, app):
    html = client.get("/admin/posts/new").text
    assert "publish:Publish" in buttons(html)
    response = author.create_post(
        "Later", action="publish", published_at="2999-01-02T03:04"
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert "Scheduled “Later” for 2 January 2999, 03:04 (UTC)." in page
    assert '<span class="status status-scheduled">Scheduled</span> for' in page
    assert "View post" not in page
    assert client.get("/posts/later").status_code == 404


def test_a_future_date_in_a_draft_form_labels_the_button_schedule(client, author):
    response = author.create_post(
        "Soon", action="preview", status="draft", published_at="2999-01-02T03:04"
    )
    assert "publish:Schedule" in buttons(response.text)


def test_a_page_links_to_its_page_address(client, author, app):
    response = author.create_post("About", kind="page", action="publish")
    page = client.get(response.headers["Location"]).text
    assert 'Published “About”. <a href="/pages/about">View post</a>' in page


def test_the_flash_escapes_the_title(client, author):
    response = author.create_post("<b>bold</b>", action="publish")
    page = client.get(response.headers["Location"]).text
    assert "Published “&lt;b&gt;bold&lt;/b&gt;”." in page


# -- the list of posts --------------------------------------------------------


def rows(html: str) -> list[str]:
    """Return the admin list's rows as "title | kind | author | status | date"."""
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    found = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = [
            " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        found.append(" | ".join(cells[:-1]))
    return found


def test_the_list_is_ordered_by_date_with_short_unwrapped_dates(client, author):
    author.create_post("Scheduled one", published_at="2999-01-02T03:04")
    author.create_post("Fresh draft", action="draft")
    author.create_post("Old news", published_at="2020-05-06T07:08")
    html = client.get("/admin/").text
    listed = rows(html)
    assert [row.split(" | ")[0] for row in listed] == [
        "Scheduled one",
        "Fresh draft",
        "Old news",
    ]
    assert listed[0].endswith("scheduled | 2999-01-02 03:04")
    assert listed[2].endswith("published | 2020-05-06 07:08")
    assert re.search(r"draft \| \d{4}-\d\d-\d\d \d\d:\d\d \(edited\)$", listed[1])
    assert '<td class="date"><time datetime="2020-05-06T07:08:00Z">' in html


def test_list_dates_do_not_wrap(client):
    with client.get("/static/style.css") as response:
        css = response.text
    rule = ".admin-posts td.date, .admin-posts td.date time { white-space: nowrap; }"
    assert rule in css


# -- versions -----------------------------------------------------------------


def sections(html: str) -> dict[str, str]:
    """Return a revision page's diff sections by heading, as their text."""
    found = {}
    for label, body in re.findall(
        r'<h2 id="diff-\d+">([^<]+)</h2>\s*<pre class="diff">(.*?)</pre>', html, re.S
    ):
        found[label] = re.sub(r"<[^>]+>", "", body)
    return found


def test_a_version_diff_shows_slug_status_date_and_kind(app, client, author):
    author.create_post("Renamed", published_at="2026-03-05T14:30")
    post = stored(app, "Renamed")
    author.post_form(
        f"/admin/posts/{post.id}/edit",
        title="Renamed",
        slug="new-name",
        body="Another body.",
        status="published",
        kind="page",
        published_at="2026-04-01T09:00",
        action="unpublish",
    )
    html = client.get(f"/admin/posts/{post.id}/revisions/1").text
    found = sections(html)
    assert set(found) == {"Body", "Slug", "Status", "Publish date", "Kind"}
    assert "-renamed\n+new-name" in found["Slug"]
    assert "-published\n+draft" in found["Status"]
    assert "-2026-03-05 14:30 (UTC)\n+2026-04-01 09:00 (UTC)" in found["Publish date"]
    assert "-post\n+page" in found["Kind"]


def test_an_older_version_without_those_fields_shows_its_text(app, client, author):
    author.create_post("Kept text")
    post = stored(app, "Kept text")
    author.post_form(
        f"/admin/posts/{post.id}/edit",
        title="Kept text",
        slug="moved",
        body="Changed.",
        status="published",
        action="save",
    )
    with app.app_context():
        session.execute(
            update(Revision).values(
                slug=None, status=None, published_at=None, kind=None
            )
        )
        session.commit()
    page = client.get(f"/admin/posts/{post.id}/revisions/1")
    assert page.status_code == 200
    assert set(sections(page.text)) == {"Body"}

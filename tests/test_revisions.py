"""Earlier versions of posts: kept on save, listed, compared, restored, race-safe."""

from __future__ import annotations

import re
import threading

import pytest
import requests
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from homepage.core.models import EDITOR, Post, Revision
from homepage.db import get_engine, session

from .authors_support import add_author
from .support import PASSWORD, csrf_from, logged_in_browser, version_from

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow


def edit(auth, post_id: int = 1, **fields):
    """Save the post form with ``fields`` over sensible defaults."""
    data = {
        "title": "Hello",
        "body": "The body of Hello.",
        "summary": "",
        "tags": "",
        "status": "published",
        "action": "save",
        **fields,
    }
    return auth.post_form(f"/admin/posts/{post_id}/edit", **data)


def revisions(app: Flask, post_id: int = 1) -> list[Revision]:
    """Return the post's revisions, oldest first."""
    with app.app_context():
        return list(
            session.scalars(
                select(Revision)
                .where(Revision.post_id == post_id)
                .order_by(Revision.number)
            )
        )


@pytest.fixture
def post(auth):
    """Log in and write the post "Hello" (id 1), with one tag."""
    auth.login()
    assert auth.create_post("Hello", tags="first").status_code == 302


def test_saving_a_change_keeps_the_previous_version(app, client, auth, post):
    response = edit(auth, body="The second text.", tags="first, second")
    assert response.status_code == 302
    kept = revisions(app)
    assert [(r.number, r.body, r.tags) for r in kept] == [
        (1, "The body of Hello.", "first")
    ]
    assert kept[0].replaced_by_id is not None
    page = client.get("/admin/posts/1/edit").get_data(as_text=True)
    assert "Earlier versions" in page
    assert "18 Bytes" in page  # len("The body of Hello.")
    assert "/admin/posts/1/revisions/1" in page
    assert "<td>alice</td>" in page  # who replaced it


def test_each_save_gets_the_next_number(app, auth, post):
    for text in ("two", "three", "four"):
        assert edit(auth, body=text).status_code == 302
    assert [(r.number, r.body) for r in revisions(app)] == [
        (1, "The body of Hello."),
        (2, "two"),
        (3, "three"),
    ]


def test_saving_without_changing_the_text_keeps_nothing(app, auth, post):
    assert edit(auth, tags="first", status="draft").status_code == 302
    assert revisions(app) == []


def test_a_rejected_save_or_a_preview_keeps_nothing(app, auth, post):
    assert edit(auth, title="", body="new").status_code == 400
    assert edit(auth, body="new", action="preview").status_code == 200
    assert revisions(app) == []


def test_new_posts_start_without_versions(client, post):
    page = client.get("/admin/posts/1/edit").get_data(as_text=True)
    assert "None yet." in page


def test_comparison_shows_escaped_line_changes(client, auth, post):
    edit(auth, body="same line\n<b>old</b> line")
    edit(auth, body="same line\n<i>new</i> line")
    page = client.get("/admin/posts/1/revisions/2")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<del class="diff-remove">-&lt;b&gt;old&lt;/b&gt; line</del>' in html
    assert '<ins class="diff-add">+&lt;i&gt;new&lt;/i&gt; line</ins>' in html
    assert "<b>old</b>" not in html


def test_comparison_of_unknown_versions_is_404(client, post):
    assert client.get("/admin/posts/1/revisions/7").status_code == 404
    assert client.get("/admin/posts/9/revisions/1").status_code == 404


def test_restoring_brings_back_the_text_and_keeps_the_replaced_one(
    app, client, auth, post
):
    edit(auth, title="Hello again", body="Second text.", tags="second")
    response = auth.post_form("/admin/posts/1/revisions/1/restore")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/posts/1/edit"
    page = client.get("/admin/posts/1/edit").get_data(as_text=True)
    assert "Restored version 1" in page
    with app.app_context():
        restored = session.get(Post, 1)
        assert (restored.title, restored.body) == ("Hello", "The body of Hello.")
        assert [tag.name for tag in restored.tags] == ["first"]
        # The slug and status stay: restoring old words must not move the post.
        assert (restored.slug, restored.status) == ("hello", "published")
    assert [(r.number, r.title) for r in revisions(app)] == [
        (1, "Hello"),
        (2, "Hello again"),
    ]
    assert "The body of Hello." in client.get("/posts/hello").get_data(as_text=True)


def test_restoring_needs_a_post_with_csrf_and_a_login(app, client, auth, post):
    edit(auth, body="Second text.")
    assert client.get("/admin/posts/1/revisions/1/restore").status_code == 405
    assert client.post("/admin/posts/1/revisions/1/restore").status_code == 400
    auth.logout()
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    refused = client.post(
        "/admin/posts/1/revisions/1/restore", data={"csrf_token": token}
    )
    assert refused.status_code == 302
    assert "/admin/login" in refused.headers["Location"]
    with app.app_context():
        assert session.get(Post, 1).body == "Second text."


def test_a_version_over_todays_limits_is_not_restored(app, client, auth, post):
    edit(auth, body="x" * 500)
    edit(auth, body="short")
    app.config["MAX_BODY_BYTES"] = 100
    # Version 2 is the long text that "short" replaced.
    response = auth.post_form("/admin/posts/1/revisions/2/restore")
    assert response.status_code == 400
    assert "cannot be restored" in response.get_data(as_text=True)
    with app.app_context():
        assert session.get(Post, 1).body == "short"


def test_deleting_a_post_deletes_its_versions(app, auth, post):
    edit(auth, body="Second text.")
    assert auth.post_form("/admin/posts/1/delete").status_code == 302
    # The trash keeps them, with the post, until it is purged.
    assert revisions(app) != []
    assert auth.post_form("/admin/posts/1/purge").status_code == 302
    assert revisions(app) == []


def test_the_database_refuses_two_versions_with_one_number(app, auth, post):
    edit(auth, body="Second text.")
    with app.app_context():
        session.add(Revision(post_id=1, number=1, title="x", body="y"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()


# -- racing saves on a real threaded server -----------------------------------------


def test_racing_saves_of_one_post_get_distinct_numbers(app, server, auth, post):
    writers, saves = 8, 4
    browsers = [logged_in_browser(server) for _ in range(writers)]
    start = threading.Barrier(writers)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def write(index: int, browser: requests.Session) -> None:
        try:
            edit_page = browser.get(f"{server}/admin/posts/1/edit").text
            token, version = csrf_from(edit_page), version_from(edit_page)
            start.wait()
            for save in range(saves):
                # A save that meets another one gets the conflict page, which
                # carries the version it shows: the writer saves from it again.
                while True:
                    response = browser.post(
                        f"{server}/admin/posts/1/edit",
                        data={
                            "csrf_token": token,
                            "version": version,
                            "title": "Hello",
                            "body": f"writer {index}, save {save}",
                            "tags": "first",
                            "status": "published",
                            "action": "save",
                        },
                        allow_redirects=False,
                    )
                    statuses.append(response.status_code)
                    if response.status_code != 409:
                        break
                    version = version_from(response.text)
                if response.status_code == 302:
                    saved = browser.get(server + response.headers["Location"])
                    version = version_from(saved.text)
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(index, browser))
        for index, browser in enumerate(browsers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Every save went through, some after a conflict; none failed.
    assert set(statuses) <= {302, 409}
    assert statuses.count(302) == writers * saves
    kept = revisions(app)
    # Every save changed the text, so every save kept one version, numbered
    # without gaps or repeats.
    assert [r.number for r in kept] == list(range(1, writers * saves + 1))
    bodies = [r.body for r in kept]
    assert bodies[0] == "The body of Hello."
    assert len(set(bodies)) == len(bodies)
    with app.app_context():
        current = session.get(Post, 1).body
    assert re.fullmatch(r"writer \d, save \d", current)
    assert current not in bodies
    assert get_engine(app).pool.checkedout() == 0


def saved_by_column(html: str) -> dict[int, str]:
    """Map each version number in the list on the edit page to its "Saved by"."""
    assert '<th scope="col">Saved by</th>' in html
    rows = re.findall(
        r"<tr>\s*<td>(\d+)</td>\s*<td><time[^>]*>[^<]*</time></td>"
        r"\s*<td>[^<]*</td>\s*<td>([^<]*)</td>",
        html,
    )
    return {int(number): name for number, name in rows}


def test_each_version_records_who_saved_it(app, client, auth, post):
    erin = add_author(app, "erin", EDITOR)
    auth.login_as(erin)
    assert edit(auth, body="The editor's words.").status_code == 302
    auth.login_as("alice", PASSWORD)
    assert edit(auth, body="Alice's answer.").status_code == 302
    kept = revisions(app)
    page = client.get("/admin/posts/1/edit").get_data(as_text=True)
    # Version 1 is alice's first text, version 2 what erin saved over it.
    assert saved_by_column(page) == {2: "erin", 1: "alice"}
    assert "The current text was saved by alice." in page
    assert [r.body for r in kept] == ["The body of Hello.", "The editor's words."]
    version = client.get("/admin/posts/1/revisions/2").get_data(as_text=True)
    assert "UTC</time> by erin; replaced by alice." in version
    with app.app_context():
        assert session.get(Post, 1).author.username == "alice"

"""Autosave: the post form's text kept every few seconds, never as the post.

static/editor.js posts the form to the autosave address while the author
types; the edit page offers the copy back while it is newer than the saved
post. Keeping it never publishes, never changes the post and records no
version.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select

from homepage.core.models import Autosave, Post, Revision
from homepage.core.schema import init_db, schema_is_current
from homepage.db import get_engine, session

from .support import csrf_from

TYPED = {
    "title": "Half a title",
    "slug": "",
    "body": "An hour of writing, not saved yet.",
    "summary": "",
    "tags": "bread",
    "kind": "post",
    "published_at": "",
}


@pytest.fixture
def draft(auth) -> int:
    """Log alice in and give her a saved draft; return its number."""
    auth.login()
    response = auth.create_post("Saved title", status="draft", action="draft")
    assert response.headers["Location"] == "/admin/posts/1/edit"
    return 1


def autosave(client, path: str, **fields):
    """Post the form's fields to an autosave address, as editor.js does."""
    token = csrf_from(client.get("/admin/posts/new").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **TYPED, **fields})


def stored(app, post_id: int | None = None) -> Autosave | None:
    with app.app_context():
        query = select(Autosave)
        query = query.where(
            Autosave.post_id.is_(None)
            if post_id is None
            else Autosave.post_id == post_id
        )
        found = session.scalars(query).first()
        if found is not None:
            session.expunge(found)
        return found


def test_autosave_keeps_a_copy_and_leaves_the_post_alone(app, client, draft):
    response = autosave(client, f"/admin/posts/{draft}/autosave")

    assert response.status_code == 200
    assert "saved_at" in response.get_json()
    copy = stored(app, draft)
    assert copy is not None and copy.body == TYPED["body"]
    with app.app_context():
        post = session.get(Post, draft)
        assert post.title == "Saved title" and post.status == "draft"
        assert post.version == 1
        assert session.scalar(select(func.count()).select_from(Revision)) == 0


def test_autosave_never_publishes(app, client, draft):
    autosave(
        client, f"/admin/posts/{draft}/autosave", status="published", action="publish"
    )

    with app.app_context():
        assert session.get(Post, draft).status == "draft"
    assert client.get("/posts/saved-title").status_code == 404


def test_a_second_autosave_replaces_the_first(app, client, draft):
    autosave(client, f"/admin/posts/{draft}/autosave", body="First.")
    autosave(client, f"/admin/posts/{draft}/autosave", body="Second.")

    with app.app_context():
        assert session.scalar(select(func.count()).select_from(Autosave)) == 1
    assert stored(app, draft).body == "Second."


def test_the_editor_offers_a_newer_copy_and_restores_it(client, draft):
    autosave(client, f"/admin/posts/{draft}/autosave")

    page = client.get(f"/admin/posts/{draft}/edit").get_data(as_text=True)
    assert "An autosaved copy is newer" in page
    assert "Restore the autosaved copy" in page
    # The form still shows the saved post until the author asks.
    assert ">The body of Saved title.</textarea>" in page

    restored = client.get(f"/admin/posts/{draft}/edit?restore=autosave")
    page = restored.get_data(as_text=True)
    assert restored.status_code == 200
    assert f">{TYPED['body']}</textarea>" in page
    assert 'value="Half a title"' in page
    assert "it is not saved yet" in page


def test_discarding_the_copy_removes_the_offer(app, client, draft):
    autosave(client, f"/admin/posts/{draft}/autosave")
    page = client.get(f"/admin/posts/{draft}/edit").get_data(as_text=True)

    response = client.post(
        f"/admin/posts/{draft}/autosave/discard", data={"csrf_token": csrf_from(page)}
    )

    assert response.status_code == 302
    assert stored(app, draft) is None
    page = client.get(f"/admin/posts/{draft}/edit").get_data(as_text=True)
    assert "An autosaved copy is newer" not in page


def test_saving_the_post_supersedes_the_copy(app, client, auth, draft):
    autosave(client, f"/admin/posts/{draft}/autosave")

    response = auth.post_form(
        f"/admin/posts/{draft}/edit",
        **{**TYPED, "title": "Saved again"},
        action="draft",
    )

    assert response.status_code == 302
    assert stored(app, draft) is None
    page = client.get(f"/admin/posts/{draft}/edit").get_data(as_text=True)
    assert "An autosaved copy is newer" not in page


def test_a_new_post_autosaves_and_is_offered_on_the_new_form(app, client, auth):
    auth.login()

    assert autosave(client, "/admin/posts/new/autosave").status_code == 200

    assert stored(app, None).body == TYPED["body"]
    with app.app_context():
        assert session.scalar(select(func.count()).select_from(Post)) == 0
    page = client.get("/admin/posts/new").get_data(as_text=True)
    assert "An autosaved copy is newer" in page
    page = client.get("/admin/posts/new?restore=autosave").get_data(as_text=True)
    assert f">{TYPED['body']}</textarea>" in page
    # Creating the post supersedes the copy of "new".
    auth.create_post("Now saved", status="draft", action="draft")
    assert stored(app, None) is None


def test_autosave_needs_the_csrf_token(app, client, draft):
    response = client.post(f"/admin/posts/{draft}/autosave", data=TYPED)

    assert response.status_code == 400
    assert stored(app, draft) is None


def test_autosave_needs_a_login(app, client):
    response = client.post("/admin/posts/new/autosave", data=TYPED)

    assert response.status_code in (302, 400)
    assert stored(app, None) is None


def test_an_author_autosaves_only_posts_they_may_edit(app, client, auth, draft, bob):
    auth.login_as(bob)

    response = autosave(client, f"/admin/posts/{draft}/autosave")

    assert response.status_code == 403
    with app.app_context():
        assert session.scalar(select(func.count()).select_from(Autosave)) == 0


def test_autosave_of_a_missing_post_is_404(app, client, auth):
    auth.login()

    assert autosave(client, "/admin/posts/99/autosave").status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("body", "x" * 1_000_001),
        ("title", "t" * 201),
        ("summary", "s" * 2001),
        ("tags", "t," * 1000),
        ("kind", "poster"),
    ],
)
def test_autosave_is_bounded_by_the_form_limits(app, client, draft, field, value):
    response = autosave(client, f"/admin/posts/{draft}/autosave", **{field: value})

    assert response.status_code in (400, 413)
    assert "error" in response.get_json()
    assert stored(app, draft) is None


def test_an_autosave_older_than_the_post_is_not_offered(client, auth, draft):
    autosave(client, f"/admin/posts/{draft}/autosave")
    # Someone (here alice in another tab) saves the post after the copy; the
    # copy was discarded by that save, and a newer one is not there.
    auth.post_form(f"/admin/posts/{draft}/edit", **TYPED, action="draft")

    page = client.get(f"/admin/posts/{draft}/edit").get_data(as_text=True)
    assert "An autosaved copy is newer" not in page


@pytest.mark.sqlite  # a database from before Alembic: adopted on SQLite only
def test_init_db_adds_the_editor_tables_to_an_older_database(app):
    # A database from before the editor kept anything of its own.
    with app.app_context():
        engine = get_engine()
        with engine.begin() as connection:
            for table in ("autosaves", "pending_forms", "share_links"):
                connection.exec_driver_sql(f"DROP TABLE {table}")
            # A database from before homepage used Alembic has no version table.
            connection.exec_driver_sql("DROP TABLE alembic_version")
        assert not schema_is_current()

        init_db()

        assert schema_is_current()
        assert {"autosaves", "pending_forms", "share_links"} <= set(
            inspect(engine).get_table_names()
        )

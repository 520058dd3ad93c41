"""Deleting a post asks first, moves it to the trash, and can be undone."""

from __future__ import annotations

import re
import zipfile

import pytest
from sqlalchemy import func, inspect, select

from homepage.core.models import EDITOR, Post, PostCount
from homepage.core.schema import schema_is_current
from homepage.db import get_engine, session

from .authors_support import add_author
from .support import csrf_from


def post_id(app, slug: str) -> int:
    with app.app_context():
        return session.scalars(select(Post.id).where(Post.slug == slug)).one()


def deleted_at(app, slug: str):
    with app.app_context():
        return session.scalars(select(Post.deleted_at).where(Post.slug == slug)).one()


@pytest.fixture
def author(auth):
    auth.login()
    return auth


def test_the_list_has_no_one_click_delete(client, author, app):
    author.create_post("Keep me", tags="kept")
    number = post_id(app, "keep-me")
    html = client.get("/admin/").text
    assert f'action="/admin/posts/{number}/delete"' not in html
    assert f'href="/admin/posts/{number}/delete"' in html


def test_delete_asks_for_confirmation_first(client, author, app):
    author.create_post("Keep me")
    number = post_id(app, "keep-me")
    page = client.get(f"/admin/posts/{number}/delete")
    assert page.status_code == 200
    assert "<h1>Delete “Keep me”?</h1>" in page.text
    form = f'<form class="form" method="post" action="/admin/posts/{number}/delete">'
    assert form in page.text
    # Looking at the question changes nothing.
    assert deleted_at(app, "keep-me") is None
    assert client.get("/posts/keep-me").status_code == 200


def test_delete_moves_to_the_trash_and_undo_restores(client, author, app):
    author.create_post("Gone soon", tags="lonely")
    number = post_id(app, "gone-soon")
    response = author.post_form(f"/admin/posts/{number}/delete")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert deleted_at(app, "gone-soon") is not None
    listing = client.get("/admin/").text
    assert "Deleted “Gone soon”." in listing
    assert f'action="/admin/posts/{number}/restore"' in listing
    assert ">Undo</button>" in listing
    # Gone from the list of posts, present in the trash.
    assert f"/admin/posts/{number}/edit" not in listing
    assert "Trash (1)" in listing
    assert "Gone soon" in client.get("/admin/trash").text
    assert client.get(f"/admin/posts/{number}/edit").status_code == 404

    undo = author.post_form(f"/admin/posts/{number}/restore")
    assert undo.headers["Location"] == f"/admin/posts/{number}/edit"
    assert "Restored “Gone soon”." in client.get(undo.headers["Location"]).text
    assert deleted_at(app, "gone-soon") is None
    assert client.get("/posts/gone-soon").status_code == 200
    assert client.get("/tags/lonely").status_code == 200


def test_a_post_in_the_trash_is_hidden_everywhere_readers_look(client, author, app):
    author.create_post("Hidden away", tags="secret", body="uniquewordxyz here")
    author.create_post("Still here", tags="secret")
    author.post_form(f"/admin/posts/{post_id(app, 'hidden-away')}/delete")
    reader = app.test_client()
    assert reader.get("/posts/hidden-away").status_code == 404
    assert "Hidden away" not in reader.get("/").text
    for ext in ("atom", "rss", "json"):
        assert "Hidden away" not in reader.get(f"/feed.{ext}").text
        assert "Hidden away" not in reader.get(f"/tags/secret/feed.{ext}").text
    assert "Hidden away" not in reader.get("/tags/secret").text
    assert "hidden-away" not in reader.get("/sitemap.xml").text
    assert "Hidden away" not in reader.get("/search?q=uniquewordxyz").text
    assert "Hidden away" not in reader.get("/archive").text
    with app.app_context():
        tag_counts = session.scalars(
            select(PostCount.count).where(PostCount.scope == "tag")
        ).all()
        month_total = session.scalar(
            select(func.sum(PostCount.count)).where(PostCount.scope == "month")
        )
    assert tag_counts == [1]
    assert month_total == 1


def test_an_old_address_of_a_trashed_post_leads_nowhere(client, author, app):
    author.create_post("First name")
    number = post_id(app, "first-name")
    page = client.get(f"/admin/posts/{number}/edit").text
    author.post_form(
        f"/admin/posts/{number}/edit",
        title="First name",
        slug="second-name",
        body="b",
        status="published",
        action="save",
        version=re.search(r'name="version" value="(\d+)"', page).group(1),
    )
    assert client.get("/posts/first-name").status_code == 301
    author.post_form(f"/admin/posts/{number}/delete")
    assert client.get("/posts/first-name").status_code == 404


def test_purge_deletes_for_good_from_the_trash_only(client, author, app):
    author.create_post("Doomed", tags="only-here")
    number = post_id(app, "doomed")
    # Not in the trash yet: nothing to purge.
    assert author.post_form(f"/admin/posts/{number}/purge").status_code == 404
    author.post_form(f"/admin/posts/{number}/delete")
    response = author.post_form(f"/admin/posts/{number}/purge")
    assert response.headers["Location"] == "/admin/trash"
    assert "Deleted “Doomed” for good." in client.get("/admin/trash").text
    with app.app_context():
        assert session.scalar(select(func.count(Post.id))) == 0
    assert author.post_form(f"/admin/posts/{number}/restore").status_code == 404


def test_others_cannot_delete_restore_or_purge_a_post(app, client, author):
    author.create_post("From Alice")
    number = post_id(app, "from-alice")
    add_author(app, "carol")
    author.login_as("carol")
    assert client.get(f"/admin/posts/{number}/delete").status_code == 403
    assert author.post_form(f"/admin/posts/{number}/delete").status_code == 403
    author.login_as("alice", password="correct horse battery")
    author.post_form(f"/admin/posts/{number}/delete")
    author.login_as("carol")
    assert "From Alice" not in client.get("/admin/trash").text
    assert author.post_form(f"/admin/posts/{number}/restore").status_code == 403
    assert author.post_form(f"/admin/posts/{number}/purge").status_code == 403
    add_author(app, "erin", role=EDITOR)
    author.login_as("erin")
    assert "From Alice" in client.get("/admin/trash").text
    assert author.post_form(f"/admin/posts/{number}/restore").status_code == 302


def test_the_undo_form_carries_a_token(client, author, app):
    author.create_post("Undoable")
    author.post_form(f"/admin/posts/{post_id(app, 'undoable')}/delete")
    assert csrf_from(client.get("/admin/").text)


@pytest.mark.sqlite  # a database from before Alembic: adopted on SQLite only
def test_init_db_upgrades_a_database_from_before_the_trash(app, runner, author):
    author.create_post("From before")
    with get_engine(app).begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_posts_status_published_at")
        conn.exec_driver_sql(
            "CREATE INDEX ix_posts_status_published_at ON posts (status, published_at)"
        )
        # The sitemap's covering index names deleted_at too.
        conn.exec_driver_sql("DROP INDEX ix_posts_status_id")
        conn.exec_driver_sql("ALTER TABLE posts DROP COLUMN deleted_at")
        # A database from before homepage used Alembic has no version table.
        conn.exec_driver_sql("DROP TABLE alembic_version")
    with app.app_context():
        assert not schema_is_current()
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert schema_is_current()
        columns = [
            index["column_names"]
            for index in inspect(get_engine()).get_indexes("posts")
            if index["name"] == "ix_posts_status_published_at"
        ]
    assert columns == [["status", "published_at", "deleted_at"]]
    assert deleted_at(app, "from-before") is None
    assert app.test_client().get("/posts/from-before").status_code == 200


def test_an_export_leaves_the_trash_out(app, runner, author, tmp_path):
    author.create_post("Exported")
    author.create_post("Trashed")
    author.post_form(f"/admin/posts/{post_id(app, 'trashed')}/delete")
    result = runner.invoke(args=["export", str(tmp_path / "site.zip")])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(tmp_path / "site.zip") as archive:
        assert [name for name in archive.namelist() if name.startswith("posts/")] == [
            "posts/exported.md"
        ]

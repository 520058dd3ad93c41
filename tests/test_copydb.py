"""copy-db: moving a whole blog into another database, and back, with nothing lost."""

from __future__ import annotations

import io
import sqlite3
import threading
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image as PILImage
from sqlalchemy import func, select

from homepage.core.models import Author, Image, LoginSession, Post, Revision, Tag
from homepage.db import session
from homepage.ops import copydb

from .authors_support import OTHER_PASSWORD, add_author, everything
from .support import AuthActions

pytestmark = pytest.mark.slow


def png() -> bytes:
    """Return a small PNG."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (3, 3), (10, 200, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def fill(app: Flask) -> str:
    """Write a blog: posts, a draft, a revision, tags, two authors, an image, a login.

    Returns the stored name of the image.
    """
    add_author(app, "bob")
    author = AuthActions(app.test_client())
    author.login()
    author.create_post("Moving day", body="Packing the boxes.", tags="moving, life")
    author.create_post("Unpacked", body="Everything found a shelf.", tags="life")
    author.create_post("Half written", status="draft")
    edit = {"body": "Packing the last boxes.", "tags": "moving, life"}
    response = author.post_form(
        "/admin/posts/1/edit",
        title="Moving day",
        status="published",
        action="save",
        **edit,
    )
    assert response.status_code == 302
    response = author.post_form(
        "/admin/images/", image=(io.BytesIO(png()), "boxes.png")
    )
    assert response.status_code == 302
    with app.app_context():
        return session.scalars(select(Image.name)).one()


def copy(app: Flask, *arguments: str):
    """Run copy-db from ``app``'s database; return the result."""
    return app.test_cli_runner().invoke(args=["copy-db", *arguments])


def counted(app: Flask) -> dict[str, int]:
    """Count what a reader and an author would miss if it were lost."""
    with app.app_context():
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Post, Revision, Tag, Author, Image, LoginSession)
        }


def assert_refused(result, message: str) -> None:
    """Check for a CLI error with ``message``: exit code 1, no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.postgresql
def test_a_blog_moves_to_postgresql_is_served_from_it_and_moves_back(
    make_app, postgres_database, tmp_path
):
    old = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'blog.db'}")
    image = fill(old)
    before = counted(old)
    target = postgres_database(migrated=False)

    result = copy(old, "--to", target)

    assert result.exit_code == 0, result.output
    assert "row count and checksum match the source" in result.output
    assert "posts: 3 rows" in result.output
    # And back into a new SQLite file, which holds every row the first did.
    new = make_app("moved", create=False, DATABASE_URL=target)
    back_file = tmp_path / "back.db"
    result = copy(new, "--to", f"sqlite:///{back_file}")
    assert result.exit_code == 0, result.output
    back = make_app("back", create=False, DATABASE_URL=f"sqlite:///{back_file}")
    assert everything(back) == everything(old)
    assert counted(new) == counted(back) == before
    found = back.test_client().get("/search?q=shelf").get_data(as_text=True)
    assert 'href="/posts/unpacked"' in found

    # Served from PostgreSQL: the same posts, the draft still hidden.
    reader = new.test_client()
    home = reader.get("/").get_data(as_text=True)
    assert "Moving day" in home and "Unpacked" in home
    assert "Half written" not in home
    post = reader.get("/posts/moving-day")
    assert post.status_code == 200
    assert "Packing the last boxes." in post.get_data(as_text=True)
    assert "Unpacked" in reader.get("/tags/life").get_data(as_text=True)
    with reader.get(f"/media/{image}") as served:
        assert served.status_code == 200
    found = reader.get("/search?q=shelf").get_data(as_text=True)
    assert 'href="/posts/unpacked"' in found
    # The same passwords; a new post gets the next id.
    author = AuthActions(new.test_client())
    assert author.login().status_code == 302
    author.login_as("bob", OTHER_PASSWORD)
    assert author.create_post("Settled in").status_code == 302
    with new.app_context():
        settled = session.scalars(select(Post).where(Post.title == "Settled in")).one()
        assert settled.id == 4
    assert "Settled in" in reader.get("/").get_data(as_text=True)


# The next tests copy between two databases of the pass's kind: SQLite to
# SQLite, or PostgreSQL to PostgreSQL.


def test_copy_into_a_database_that_holds_rows_is_refused_and_changes_nothing(
    app, make_app, auth
):
    auth.login()
    auth.create_post("Here first")
    other = make_app("other.db")
    AuthActions(other.test_client()).login()
    before = everything(other)

    result = copy(app, "--to", other.config["DATABASE_URL"])

    assert_refused(result, "is not empty: authors, ")
    assert "login_sessions" in result.output
    assert "--replace" in result.output
    assert everything(other) == before


def test_replace_empties_the_target_first(app, make_app, auth):
    auth.login()
    auth.create_post("Wanted")
    other = make_app("other.db")
    target = other.config["DATABASE_URL"]
    writer = AuthActions(other.test_client())
    writer.login()
    writer.create_post("Overwritten")

    result = copy(app, "--to", target, "--replace")

    assert result.exit_code == 0, result.output
    with other.app_context():
        assert list(session.scalars(select(Post.title))) == ["Wanted"]
        assert list(session.scalars(select(Author.username))) == ["alice"]
    found = other.test_client().get("/search?q=overwritten").get_data(as_text=True)
    assert "/posts/overwritten" not in found
    found = other.test_client().get("/search?q=wanted").get_data(as_text=True)
    assert 'href="/posts/wanted"' in found


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL homepage can use"),
        ("mysql+nodriver://me@host/blog", "is not a database URL homepage can use"),
        ("sqlite:////no/such/folder/blog.db", "cannot open sqlite:////no/such"),
        (
            "postgresql+psycopg://nobody:secret@/blog?host=/no/such/socket",
            "cannot open postgresql+psycopg://nobody:***@/blog",
        ),
    ],
)
def test_a_bad_target_is_a_clear_error(app, url, message):
    result = copy(app, "--to", url)

    assert_refused(result, message)
    assert "secret" not in result.output


def test_a_copy_that_differs_from_its_source_is_not_kept(
    app, auth, tmp_path, monkeypatch
):
    auth.login()
    auth.create_post("Read once")
    real = copydb._summarise
    monkeypatch.setattr(
        copydb,
        "_summarise",
        lambda connection, table: (
            (0, "0" * 64) if table.name == "posts" else real(connection, table)
        ),
    )
    target = tmp_path / "other.db"

    result = copy(app, "--to", f"sqlite:///{target}")

    assert_refused(result, "differs from the source in posts (1 rows read, 0 written)")
    with sqlite3.connect(target) as connection:
        assert connection.execute("SELECT count(*) FROM posts").fetchone() == (0,)


def test_a_blog_larger_than_a_batch_is_copied_whole(app, auth, tmp_path, monkeypatch):
    monkeypatch.setattr(copydb, "BATCH", 2)
    auth.login()
    for number in range(5):
        auth.create_post(f"Post {number}", tags=f"tag{number % 2}")

    result = copy(app, "--to", f"sqlite:///{tmp_path / 'other.db'}")

    assert result.exit_code == 0, result.output
    assert "posts: 5 rows" in result.output
    with sqlite3.connect(tmp_path / "other.db") as connection:
        rows = connection.execute("SELECT id, title FROM posts ORDER BY id").fetchall()
    assert rows == [(number + 1, f"Post {number}") for number in range(5)]


def test_the_copy_reads_one_snapshot_while_the_site_keeps_writing(app, auth, tmp_path):
    stop = threading.Event()
    started = threading.Barrier(4)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def write(number: int) -> None:
        try:
            author = AuthActions(app.test_client())
            author.login()
            count = 0
            while not stop.is_set():
                title = f"Writer {number} post {count}"
                response = author.create_post(title, tags=f"w{number}, n{count}")
                statuses.append(response.status_code)
                count += 1
                if count == 2:
                    started.wait()
        except BaseException as exc:  # reported below
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in writers:
        thread.start()
    started.wait()
    before = len(titles(app))
    result = copy(app, "--to", f"sqlite:///{tmp_path / 'other.db'}")
    after = len(titles(app))
    stop.set()
    for thread in writers:
        thread.join()

    assert errors == []
    assert set(statuses) == {302}
    # Every post with its tags, none half copied: the comparison passed.
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "other.db") as connection:
        copied = [title for (title,) in connection.execute("SELECT title FROM posts")]
        untagged = connection.execute(
            "SELECT count(*) FROM posts WHERE id NOT IN (SELECT post_id FROM post_tags)"
        ).fetchone()
    assert before <= len(copied) <= after
    assert len(set(copied)) == len(copied)
    assert untagged == (0,)


def titles(app: Flask) -> list[str]:
    """Return the titles of every post."""
    with app.app_context():
        return list(session.scalars(select(Post.title)))


def test_the_source_defaults_to_the_site_and_can_be_named(app, make_app, tmp_path):
    first = tmp_path / "first.db"
    assert copy(app, "--to", f"sqlite:///{first}").exit_code == 0
    source = f"sqlite:///{first}"

    result = copy(app, "--from", source, "--to", f"sqlite:///{tmp_path / 'two.db'}")

    assert result.exit_code == 0, result.output
    assert_refused(copy(app, "--from", source, "--to", source), "the same database")
    assert Path(tmp_path / "two.db").is_file()

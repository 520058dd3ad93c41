"""Error pages: styled, with the security headers, whatever failed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from homepage.db import get_engine, session, sqlite_path

from . import postgres

UNAVAILABLE = "cannot reach its posts right now"


@pytest.fixture
def blog(client, auth):
    """A blog with one post, "Hello", seen by an anonymous reader."""
    auth.login()
    auth.create_post("Hello")
    auth.logout()
    return client


@pytest.fixture
def break_database(request) -> Callable[[Flask], str]:
    """Return a function that makes an app's database unusable; it returns the log.

    SQLite: the file is overwritten with bytes SQLite cannot read, as a bad
    copy would. PostgreSQL: the database is dropped under the running site,
    its connections cut, as a server restored without it would be.
    """

    def sqlite(app: Flask) -> str:
        get_engine(app).dispose()
        path = sqlite_path(app.config["DATABASE_URL"])
        for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        path.write_bytes(b"This is not a database. " * 400)
        return "file is not a database"

    def postgresql(app: Flask) -> str:
        name = make_url(app.config["DATABASE_URL"]).database
        request.getfixturevalue("postgres_cluster").drop_database(name)
        return f'database "{name}" does not exist'

    return postgresql if postgres.selected() else sqlite


def assert_unavailable_page(response) -> None:
    assert response.status_code == 503
    assert UNAVAILABLE in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "60"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "ETag" not in response.headers


@pytest.mark.parametrize("path", ["/", "/posts/hello", "/feed.atom", "/archive"])
def test_readers_get_the_styled_503_when_the_database_is_unreadable(
    blog, app, caplog, path, break_database
):
    etag = blog.get(path).headers["ETag"]  # in the page cache
    cause = break_database(app)
    caplog.set_level(logging.ERROR)

    for headers in ({}, {"If-None-Match": etag}):
        assert_unavailable_page(blog.get(path, headers=headers))
    assert cause in caplog.text


def test_an_author_gets_the_styled_503_too(blog, auth, app, caplog, break_database):
    auth.login()
    cause = break_database(app)
    caplog.set_level(logging.ERROR)

    for path in ("/", "/posts/hello", "/admin/"):
        response = blog.get(path)
        assert_unavailable_page(response)
    assert cause in caplog.text


def test_a_database_without_the_sites_state_still_serves_pages(blog, app, caplog):
    # As an installation whose schema predates the page cache would be.
    with app.app_context():
        session.execute(text("DROP TABLE site_state"))
        session.commit()
    caplog.set_level(logging.ERROR)

    response = blog.get("/posts/hello")
    assert response.status_code == 200
    assert "The body of Hello." in response.get_data(as_text=True)
    assert "ETag" not in response.headers
    missing = 'relation "site_state" does not exist'
    assert (missing if postgres.selected() else "no such table: site_state") in (
        caplog.text
    )


def test_a_mistaken_query_is_still_a_500(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/mistake")
    def mistake():
        raise IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed"))

    response = client.get("/mistake")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.get_data(as_text=True)

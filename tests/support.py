"""What tests use to act as a browser would: forms, tokens, logins."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, text

from homepage.db import WRITE_LOCK, get_engine

from .authors_support import OTHER_PASSWORD

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_VERSION = re.compile(r'name="version" value="([^"]*)"')
_EDIT_PATH = re.compile(r"/admin/posts/\d+/edit")


def csrf_from(html: str) -> str:
    """Return the CSRF token embedded in a page's form."""
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def version_from(html: str) -> str:
    """Return the version of the post that a page's edit form was opened at."""
    match = _VERSION.search(html)
    assert match, "the page has no post form with a version"
    return match.group(1)


class AuthActions:
    """Log in and out through the real forms, and submit forms with their token."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def token(self, path: str = "/admin/login") -> str:
        return csrf_from(self._client.get(path).get_data(as_text=True))

    def login(self, username: str = "alice", password: str = PASSWORD, **extra):
        return self._client.post(
            "/admin/login",
            data={
                "username": username,
                "password": password,
                "csrf_token": self.token(),
                **extra,
            },
        )

    def login_as(self, username: str, password: str = OTHER_PASSWORD):
        """Log out whoever is logged in, then log in as ``username``.

        The password defaults to that of the authors tests add besides alice.
        """
        if self._client.get("/admin/login").status_code == 302:
            self.logout()
        response = self.login(username, password)
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    def logout(self):
        return self._client.post(
            "/admin/logout", data={"csrf_token": self.token("/admin/")}
        )

    def post_form(self, path: str, **fields):
        """Submit ``fields`` to ``path`` with a valid CSRF token.

        An edit form also sends the version of the post it was opened at:
        unless ``fields`` has one, it is read from the form as it is now, as
        if the author had just opened it.
        """
        token = self.token("/admin/posts/new")
        if _EDIT_PATH.fullmatch(path) and "version" not in fields:
            page = self._client.get(path)
            if page.status_code == 200:
                fields["version"] = version_from(page.get_data(as_text=True))
        return self._client.post(path, data={"csrf_token": token, **fields})

    def create_post(self, title: str = "Hello", **fields):
        data = {
            "title": title,
            "body": f"The body of {title}.",
            "tags": "",
            "status": "published",
            "action": "save",
            **fields,
        }
        return self.post_form("/admin/posts/new", **data)


def logged_in_browser(base: str, password: str = PASSWORD) -> requests.Session:
    """Return a requests session logged in as alice on the server at ``base``."""
    browser = requests.Session()
    page = browser.get(f"{base}/admin/login", timeout=30).text
    response = browser.post(
        f"{base}/admin/login",
        data={"username": "alice", "password": password, "csrf_token": csrf_from(page)},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302
    return browser


def write_elsewhere(app: Flask, sql: str, **params) -> None:
    """Commit ``sql`` on a connection of its own, as another request would.

    Safe to call in the middle of a request: the connection is not the
    request's, and it takes the writer lock as every writer does.
    """
    with get_engine(app).connect() as other:
        other.execution_options(**{WRITE_LOCK: True})
        other.execute(text(sql), params)
        other.commit()


@contextmanager
def recorded_queries(engine: Engine, everything: bool = False) -> Iterator[list[str]]:
    """Record the SQL queries sent on ``engine``'s connections, by any layer.

    The ORM, Core and the DB-API paths of db.read_rows all reach the driver,
    so it is watched there: SQLite through its trace callback, psycopg
    through a cursor class that notes each statement. Only queries are kept
    (SELECT, INSERT, UPDATE, DELETE), not BEGIN, PRAGMA or pings, unless
    ``everything`` is true (psycopg's own BEGIN is never seen).
    """
    sent: list[str] = []

    def note(sql: str) -> None:
        words = sql.split(None, 1)
        if everything or (
            words and words[0].upper() in _QUERY_WORDS and sql != "SELECT 1"
        ):
            sent.append(sql)

    class NotingCursor(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            note(query if isinstance(query, str) else str(query))
            return super().execute(query, params, **kwargs)

    def watch(dbapi_connection, _record, _proxy) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(note)
        else:
            dbapi_connection.cursor_factory = NotingCursor

    def unwatch(dbapi_connection, _record) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(None)
        else:
            dbapi_connection.cursor_factory = psycopg.Cursor

    event.listen(engine, "checkout", watch)
    event.listen(engine, "checkin", unwatch)
    try:
        yield sent
    finally:
        event.remove(engine, "checkout", watch)
        event.remove(engine, "checkin", unwatch)


_QUERY_WORDS = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}

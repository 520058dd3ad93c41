"""Fixtures: a fresh app and database per test, a client, and a logged-in author."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.serving import make_server

from homepage import create_app
from homepage.cli import create_author
from homepage.models import AUTHOR, OWNER
from homepage.schema import init_db

from .authors_support import OTHER_PASSWORD, add_author

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


@pytest.fixture(autouse=True)
def cheap_password_hashes(request, monkeypatch):
    """Hash passwords with one PBKDF2 round instead of scrypt in tests.

    scrypt is slow on purpose (about 0.1 s per hash and per login), which
    would be most of the suite's running time. Tests marked ``real_hashing``
    keep the production hash.
    """
    if request.node.get_closest_marker("real_hashing"):
        return
    from werkzeug.security import generate_password_hash

    monkeypatch.setattr(
        "homepage.auth.generate_password_hash",
        lambda password: generate_password_hash(password, "pbkdf2:sha256:1"),
    )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """Return an app on its own database file, with its owner, "alice"."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test secret",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'blog.db'}",
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
    )
    with app.app_context():
        init_db()
        create_author("alice", PASSWORD, OWNER)
    yield app


@pytest.fixture
def bob(app: Flask) -> str:
    """Add "bob", an author who may work on his own posts and images only."""
    return add_author(app, "bob", AUTHOR)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


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


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """Serve the app from a real multi-threaded WSGI server on loopback."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)
    httpd.server_close()


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

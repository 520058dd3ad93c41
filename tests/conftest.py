"""Fixtures: a fresh app and database per test, a client, and a logged-in author.

Helpers that tests import live in ``support.py``; this file only holds fixtures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.serving import make_server

from homepage import create_app
from homepage.core.authors import create_author
from homepage.core.models import AUTHOR, OWNER
from homepage.core.schema import init_db

from .authors_support import add_author
from .support import PASSWORD, AuthActions


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
        "homepage.core.authors.generate_password_hash",
        lambda password: generate_password_hash(password, "pbkdf2:sha256:1"),
    )


#: What every test app needs besides the defaults.
TEST_SETTINGS = {"TESTING": True, "SECRET_KEY": "test secret"}


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Flask]:
    """Return a factory of apps, each on its own database file under ``tmp_path``.

    ``name`` names the database file; ``owner`` adds alice as the site's
    owner; other keywords are settings. The schema is created unless
    ``create`` is false. ``bare`` starts from the given settings alone (no
    test defaults), for tests of the factory itself. The instance folder is
    ``instance`` (default ``tmp_path/instance``), never the project's.
    """

    def make(
        name: str = "blog.db",
        *,
        create: bool = True,
        owner: bool = True,
        bare: bool = False,
        instance: Path | None = None,
        **settings,
    ) -> Flask:
        monkeypatch.setenv(
            "HOMEPAGE_INSTANCE_PATH", str(instance or tmp_path / "instance")
        )
        defaults = {
            **TEST_SETTINGS,
            "DATABASE_URL": f"sqlite:///{tmp_path / name}",
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
        app = create_app(settings if bare else {**defaults, **settings})
        if create:
            with app.app_context():
                init_db()
                if owner:
                    create_author("alice", PASSWORD, OWNER)
        return app

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """Return an app on its own database file, with its owner, "alice"."""
    return make_app()


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

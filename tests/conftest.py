"""Fixtures: a fresh app and database per test, a client, and a logged-in author.

Helpers that tests import live in ``support.py``; this file only holds fixtures.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.serving import make_server

from homepage import create_app, db
from homepage.core.authors import create_author
from homepage.core.models import AUTHOR, OWNER
from homepage.core.schema import init_db
from homepage.db import get_engine

from . import postgres
from .authors_support import add_author
from .support import PASSWORD, AuthActions


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Leave out the tests that are about the other database.

    ``make test`` runs the suite twice: on SQLite, then with
    ``HOMEPAGE_TEST_DATABASE=postgresql`` on PostgreSQL. Tests marked
    ``sqlite`` are about SQLite itself (its file, WAL, PRAGMAs) and run in the
    first pass only; tests marked ``postgresql`` are about PostgreSQL's own
    tools and run in the second only.
    """
    other = "sqlite" if postgres.selected() else "postgresql"
    kept = [item for item in items if not item.get_closest_marker(other)]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[postgres.Cluster]:
    """Start a private PostgreSQL cluster for the whole run."""
    if not postgres.available():
        pytest.fail(f"PostgreSQL's server programs are not in {postgres.BIN}")
    with postgres.running_cluster() as cluster:
        yield cluster


#: The database every PostgreSQL test database is copied from: migrated to
#: the newest revision once, so each test starts in milliseconds.
TEMPLATE_DATABASE = "homepage_template"


@pytest.fixture(scope="session")
def postgres_template(
    postgres_cluster: postgres.Cluster, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Make the migrated template database; return its name."""
    url = postgres_cluster.create_database(TEMPLATE_DATABASE)
    folder = tmp_path_factory.mktemp("template")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOMEPAGE_INSTANCE_PATH", str(folder / "instance"))
        app = create_app(
            {**TEST_SETTINGS, "DATABASE_URL": url, "UPLOAD_FOLDER": str(folder)}
        )
        with app.app_context():
            init_db()
        get_engine(app).dispose()
    return TEMPLATE_DATABASE


@pytest.fixture
def postgres_database(
    request: pytest.FixtureRequest, postgres_cluster: postgres.Cluster
) -> Iterator[Callable[..., str]]:
    """Return a factory of fresh PostgreSQL databases, dropped after the test.

    ``database(migrated=True)`` copies the migrated template;
    ``migrated=False`` gives an empty database.
    """
    made: list[str] = []

    def database(*, migrated: bool = True) -> str:
        name = f"test_{os.getpid()}_{next(_database_numbers)}"
        template = "template1"
        if migrated:
            template = request.getfixturevalue("postgres_template")
        made.append(name)
        return postgres_cluster.create_database(name, template)

    yield database
    for name in made:
        postgres_cluster.drop_database(name)


_database_numbers = itertools.count()


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
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., str]]:
    """Return a factory of database URLs: one per ``name`` within a test.

    A file under ``tmp_path`` on SQLite; with ``HOMEPAGE_TEST_DATABASE=postgresql``
    a fresh PostgreSQL database (``migrated``: a copy of the migrated
    template, else empty). Asking twice for one name gives the same database,
    as two processes on one database file would share it. The engines the
    test made are disposed of afterwards, before its databases are dropped.
    """
    urls: dict[str, str] = {}
    # Set up first so that it is torn down last, after the engines are gone.
    databases = (
        request.getfixturevalue("postgres_database") if postgres.selected() else None
    )
    engines_before = set(db._engines)

    def url(name: str = "blog.db", *, migrated: bool = True) -> str:
        if databases is None:
            return f"sqlite:///{tmp_path / name}"
        if name not in urls:
            urls[name] = databases(migrated=migrated)
        return urls[name]

    yield url
    # Close the pooled connections now rather than whenever the garbage
    # collector finds them (psycopg warns about an unclosed connection).
    for engine in set(db._engines) - engines_before:
        engine.dispose()


@pytest.fixture
def make_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: Callable[..., str]
) -> Iterator[Callable[..., Flask]]:
    """Return a factory of apps, each on its own database under ``tmp_path``.

    ``name`` names the database (see ``database_url``); ``owner`` adds
    alice as the site's owner; other keywords are settings. The schema is created unless
    ``create`` is false. ``bare`` starts from the given settings alone (no
    test defaults), for tests of the factory itself. The instance folder is
    ``instance`` (default ``tmp_path/instance``), never the project's.
    Every app lives until the test ends, then its engine is disposed of: an
    app a test drops would otherwise be collected mid-test with its pooled
    connections open, which psycopg reports as a ResourceWarning (an error).
    """
    made: list[Flask] = []

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
            "DATABASE_URL": database_url(name, migrated=create),
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
        app = create_app(settings if bare else {**defaults, **settings})
        made.append(app)
        if create:
            with app.app_context():
                init_db()
                if owner:
                    create_author("alice", PASSWORD, OWNER)
        return app

    yield make
    for app in made:
        get_engine(app).dispose()


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

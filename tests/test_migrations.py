"""Alembic migrations: new databases, databases from before Alembic, the db commands."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from homepage.core.schema import (
    BASELINE,
    current_revision,
    head_revision,
    include_object,
    upgrade_database,
)
from homepage.db import PROJECT_ROOT, Base, get_engine, make_engine

from . import postgres
from .authors_support import OTHER_PASSWORD
from .support import AuthActions

FIXTURES = Path(__file__).resolve().parent / "fixtures"

#: What authors and readers put into the blog made before Alembic, table by
#: table; every row of these must come through the upgrade unchanged. (The
#: posts' HTML is left out: a newer renderer may render it again.)
KEPT = {
    "authors": "id, username, password_hash, created_at, role",
    "posts": "id, title, slug, body, summary, status, kind, author_id, "
    "created_at, updated_at, published_at, version",
    "revisions": "*",
    "images": "id, name, original_name, content_type, size, width, height, "
    "author_id, created_at, alt, decorative",
    "image_variants": "*",
    "tags": "*",
    "post_tags": "*",
    "slug_redirects": "*",
}


def rows(database: Path) -> dict[str, list[tuple]]:
    """Return the kept rows of every table in KEPT, in a stable order."""
    with closing(sqlite3.connect(database)) as connection:
        return {
            table: sorted(connection.execute(f"SELECT {columns} FROM {table}"))
            for table, columns in KEPT.items()
        }


def tables(app: Flask) -> set[str]:
    """Return the names of the tables in the app's database."""
    return set(inspect(get_engine(app)).get_table_names())


def version_rows(url: str) -> list[tuple]:
    """Return the rows of Alembic's version table in the database at ``url``."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as connection:
            found = connection.exec_driver_sql(
                "SELECT version_num FROM alembic_version"
            )
            return [tuple(row) for row in found]
    finally:
        engine.dispose()


def url_of(app: Flask) -> str:
    """Return the URL of the app's database."""
    return app.config["DATABASE_URL"]


@pytest.fixture
def legacy(make_app, tmp_path: Path) -> Flask:
    """Return an app on a copy of the blog that homepage made before Alembic.

    tests/fixtures/make_legacy_db.py made it with that release's code: two
    authors, four posts (a draft and a page among them), two revisions, an
    image with its variants. Nothing has upgraded the copy yet.
    """
    shutil.copy(FIXTURES / "legacy.db", tmp_path / "legacy.db")
    shutil.copytree(FIXTURES / "legacy_uploads", tmp_path / "uploads")
    return make_app("legacy.db", create=False, owner=False)


# -- a new database ---------------------------------------------------------


def test_a_new_database_is_made_by_the_revisions_and_is_at_the_head(app, runner):
    assert version_rows(url_of(app)) == [(head_revision(),)]
    expected = set(Base.metadata.tables) | {"alembic_version"}
    if not postgres.selected():  # SQLite's FTS5 index, a virtual table
        expected.add("post_search")
    assert expected <= tables(app)
    result = runner.invoke(args=["db", "current"])
    assert result.exit_code == 0, result.output
    assert result.output == f"{head_revision()} (head): the database is up to date.\n"


def tmp_path_of(app: Flask) -> Path:
    """Return the file of the app's database."""
    return Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))


def differences(engine: Engine) -> list:
    """Return what Alembic's autogenerate finds between the models and a database."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            # The FTS5 index and its shadow tables are made by raw SQL and
            # described by no model: include_object leaves them out.
            opts={
                "include_object": include_object,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        return compare_metadata(context, Base.metadata)


def test_the_models_and_the_migrations_agree(database_url):
    engine = make_engine(database_url("migrated.db", migrated=False))
    try:
        upgrade_database(engine)
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_the_comparison_sees_a_missing_index(database_url):
    # The agreement above means something: a difference is found.
    engine = make_engine(database_url("migrated.db", migrated=False))
    try:
        upgrade_database(engine)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP INDEX ix_posts_status_id")
        found = differences(engine)
    finally:
        engine.dispose()
    assert [(kind, index.name) for kind, index in found] == [
        ("add_index", "ix_posts_status_id")
    ]


# -- a database from before Alembic -----------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("command", [["init-db"], ["db", "upgrade"]])
def test_a_database_from_before_alembic_keeps_every_row(legacy, command):
    database = tmp_path_of(legacy)
    before = rows(database)
    assert "alembic_version" not in tables(legacy)

    result = legacy.test_cli_runner().invoke(args=command)

    assert result.exit_code == 0, result.output
    assert version_rows(url_of(legacy)) == [(head_revision(),)]
    assert rows(database) == before
    assert len(before["authors"]) == 2 and len(before["posts"]) == 4
    assert len(before["revisions"]) == 2 and len(before["images"]) == 1
    # Adopted into exactly the shape the revisions give a new database.
    assert differences(get_engine(legacy)) == []


#: What versions older still lacked: the trash, kinds of post, versions of
#: revisions, image descriptions, stripped metadata, share links.
OLDER = (
    "DROP INDEX ix_posts_kind_status_published_at",
    "DROP INDEX ix_posts_status_id",
    "DROP INDEX ix_posts_status_published_at",
    "ALTER TABLE posts DROP COLUMN kind",
    "ALTER TABLE posts DROP COLUMN deleted_at",
    "ALTER TABLE revisions DROP COLUMN version",
    "ALTER TABLE images DROP COLUMN alt",
    "ALTER TABLE images DROP COLUMN decorative",
    "ALTER TABLE images DROP COLUMN metadata_stripped",
    "DROP TABLE share_links",
)


@pytest.mark.sqlite
def test_an_older_database_is_adopted_into_exactly_the_revisions_shape(legacy):
    database = tmp_path_of(legacy)
    with closing(sqlite3.connect(database)) as connection:
        for statement in OLDER:
            connection.execute(statement)
        connection.commit()
        titles = connection.execute("SELECT id, title, body FROM posts").fetchall()

    result = legacy.test_cli_runner().invoke(args=["init-db"])

    assert result.exit_code == 0, result.output
    # Not merely the columns added in place (nullable, or with a default the
    # models do not have): each such table copied into its exact definition.
    assert differences(get_engine(legacy)) == []
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("SELECT id, title, body FROM posts").fetchall() == (
            titles
        )
        # Before kinds, everything was a post.
        kinds = connection.execute("SELECT DISTINCT kind FROM posts").fetchall()
        assert kinds == [("post",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    assert legacy.test_client().get("/posts/first-light").status_code == 200


@pytest.mark.sqlite
def test_the_site_serves_a_database_from_before_alembic(legacy):
    assert legacy.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    client = legacy.test_client()

    home = client.get("/")
    assert home.status_code == 200
    assert "First light" in home.text and "Notes from Bob" in home.text
    assert "Unfinished" not in home.text  # a draft
    post = client.get("/posts/first-light")
    assert post.status_code == 200
    assert "Morning by the river, at last." in post.text
    assert 'alt="A grey heron"' in post.text
    assert client.get("/pages/about").status_code == 200
    (image,) = rows(tmp_path_of(legacy))["images"]
    with client.get(f"/media/{image[1]}") as media:
        assert media.status_code == 200
        assert media.data == (FIXTURES / "legacy_uploads" / image[1]).read_bytes()
    found = client.get("/search?q=heron")
    assert 'href="/posts/first-light"' in found.text

    # Both authors log in with the passwords they had; the owner sees the
    # post's history.
    auth = AuthActions(client)
    assert auth.login().status_code == 302
    history = client.get("/admin/posts/1/revisions/1")
    assert history.status_code == 200
    assert "Morning by the river." in history.text
    auth.login_as("bob", OTHER_PASSWORD)
    assert client.get("/admin/").status_code == 200


@pytest.mark.sqlite
def test_an_adopted_database_is_upgraded_once(legacy):
    runner = legacy.test_cli_runner()
    assert runner.invoke(args=["init-db"]).exit_code == 0
    before = rows(tmp_path_of(legacy))

    result = runner.invoke(args=["init-db"])

    assert result.exit_code == 0, result.output
    assert version_rows(url_of(legacy)) == [(head_revision(),)]
    assert rows(tmp_path_of(legacy)) == before


# -- the db commands ---------------------------------------------------------


def test_db_history_lists_the_revisions(runner):
    result = runner.invoke(args=["db", "history"])

    assert result.exit_code == 0, result.output
    # Newest first, down to the baseline.
    newest = result.output.splitlines()[0]
    assert f" -> {head_revision()} (head, current): " in newest
    assert result.output.endswith(
        f"base -> {BASELINE}: Baseline: the schema when homepage adopted Alembic.\n"
    )


def test_db_downgrade_to_base_and_upgrade_again(app, runner, auth):
    auth.login()
    assert auth.create_post("Gone with the schema").status_code == 302

    result = runner.invoke(args=["db", "downgrade", "base", "--yes"])

    assert result.exit_code == 0, result.output
    assert result.output == (
        f"Downgraded the database from {head_revision()} to none "
        "(empty, or made before homepage used Alembic).\n"
    )
    assert tables(app) == {"alembic_version"}
    current = runner.invoke(args=["db", "current"])
    assert "behind the code's" in current.output

    result = runner.invoke(args=["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert result.output == (
        "Upgraded the database from none (empty, or made before homepage used "
        f"Alembic) to {head_revision()}.\n"
    )
    with app.app_context():
        assert current_revision(get_engine()) == head_revision()
    assert app.test_client().get("/").status_code == 200


def test_db_downgrade_asks_first_and_keeps_everything_on_no(app, runner):
    result = runner.invoke(args=["db", "downgrade", "base"], input="n\n")

    assert result.exit_code == 1
    assert "dropped with their data" in result.output
    assert version_rows(url_of(app)) == [(head_revision(),)]
    assert "posts" in tables(app)


@pytest.mark.parametrize(
    "command",
    [["db", "upgrade", "9999"], ["db", "downgrade", "9999", "--yes"]],
    ids=["upgrade", "downgrade"],
)
def test_an_unknown_revision_is_a_clear_error(app, runner, command):
    result = runner.invoke(args=command)

    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert "9999" in result.output and "Traceback" not in result.output
    assert version_rows(url_of(app)) == [(head_revision(),)]


def test_a_database_from_newer_code_is_refused_unchanged(app, runner):
    with get_engine(app).begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff'")

    current = runner.invoke(args=["db", "current"]).output
    result = runner.invoke(args=["init-db"])

    assert current == (
        f"ffff: unknown to this code, which goes up to {head_revision()} "
        "(a newer version migrated the database).\n"
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: the database is at revision ffff, which this version of homepage "
        "does not know: a newer version migrated it. Run that version, or "
        "restore a backup made before the migration.\n"
    )
    assert version_rows(url_of(app)) == [("ffff",)]


# -- several processes at once -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "start", ["new", pytest.param("legacy", marks=pytest.mark.sqlite)]
)
def test_processes_starting_at_once_migrate_once(tmp_path, database_url, start):
    url = database_url("blog.db", migrated=False)
    if start == "legacy":
        shutil.copy(FIXTURES / "legacy.db", tmp_path / "blog.db")
    environment = {
        **os.environ,
        "FLASK_DATABASE_URL": url,
        "FLASK_UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "HOMEPAGE_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    flask = [sys.executable, "-m", "flask", "--app", "homepage", "init-db"]
    processes = [
        subprocess.Popen(
            flask,
            env=environment,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]

    assert [process.returncode for process in processes] == [0] * 6, outputs
    assert all(output.startswith("Initialized the database") for output in outputs)
    assert version_rows(url) == [(head_revision(),)]
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as connection:
            state = connection.exec_driver_sql("SELECT count(*) FROM site_state")
            assert state.scalar() == 1
            if engine.dialect.name == "sqlite":
                check = connection.exec_driver_sql("PRAGMA integrity_check")
                assert check.fetchall() == [("ok",)]
    finally:
        engine.dispose()


# -- packaging -----------------------------------------------------------------


@pytest.mark.slow
def test_an_installed_copy_migrates_with_what_it_carries(tmp_path):
    # A non-editable install has only the files setuptools copies (build_py
    # makes what a wheel holds); Alembic needs env.py, its template and every
    # revision there. The copy runs from outside the project.
    build, database = tmp_path / "build", tmp_path / "blog.db"
    subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q"]
        + ["build_py", "--build-lib", str(build)],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    migrate = (
        "import sys, homepage; from homepage.core import schema; "
        "from homepage.db import make_engine; "
        "assert homepage.__file__.startswith(sys.argv[1]), homepage.__file__; "
        "schema.upgrade_database(make_engine('sqlite:///' + sys.argv[2]))"
    )
    subprocess.run(
        [sys.executable, "-c", migrate, str(build), str(database)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(build)},
        check=True,
    )
    assert version_rows(f"sqlite:///{database}") == [(head_revision(),)]
    assert (build / "homepage/core/migrations/script.py.mako").exists()

"""``flask doctor``: one verdict per check, a fix for each fault, exit 1 on failure."""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask

from homepage.core.schema import head_revision
from homepage.db import get_engine
from homepage.ops import doctor

from .modwsgi import give_to_server, is_root, make_data_dir, serving_user

CHECKS = (
    "database path",
    "database folder",
    "journal mode",
    "schema",
    "upload folder",
    "file modes",
    "secret key",
    "trusted hosts",
    "time zone",
    "pool size",
)
needs_root = pytest.mark.skipif(
    not is_root(), reason="handing files to another user needs root (CI runs as root)"
)

MakeApp = Callable[..., Flask]


@pytest.fixture
def make_app(make_app: MakeApp, tmp_path: Path) -> MakeApp:
    """Return a factory of deployed-like apps: ``folder/blog.db``, a strong key.

    No test settings and no author: doctor sees what a fresh installation has.
    A setting given as None is left out.
    """

    def make(
        folder: Path = tmp_path,
        create: bool = True,
        instance: Path | None = None,
        **config,
    ) -> Flask:
        settings = {
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"sqlite:///{folder / 'blog.db'}",
            **config,
        }
        given = {key: value for key, value in settings.items() if value}
        app = make_app(
            bare=True, create=create, owner=False, instance=instance, **given
        )
        # doctor opens the file afresh, as the serving user would.
        get_engine(app).dispose()
        return app

    return make


@pytest.fixture
def server_folder() -> Iterator[Path]:
    """Return a folder owned by the serving user, as a deployment would have."""
    folder = make_data_dir("homepage-doctor-")
    yield folder
    shutil.rmtree(folder)


def doctor_says(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["doctor", *args])


def verdict(result: Result, check: str) -> str:
    """Return the verdict of ``check`` and its fix, with single spaces."""
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    for index, line in enumerate(lines):
        if line.split(" ", 1)[-1].startswith(check):
            fix = lines[index + 1] if index + 1 < len(lines) else ""
            return line + (" " + fix if fix.startswith("fix:") else "")
    raise AssertionError(f"no verdict for {check!r} in:\n{result.output}")


def test_a_healthy_deployment_passes_every_check(make_app):
    result = doctor_says(make_app(TRUSTED_HOSTS=["blog.example.org"]))

    assert result.exit_code == 0, result.output
    for check in CHECKS:
        assert not verdict(result, check).startswith("FAIL")
    assert verdict(result, "journal mode").startswith("OK journal mode WAL")
    assert verdict(result, "schema").startswith(
        f"OK schema at revision {head_revision()};"
    )
    assert verdict(result, "file modes").startswith("OK")
    assert verdict(result, "trusted hosts").startswith("OK")
    assert result.output.rstrip().endswith("All 10 checks passed.")


def test_the_serving_user_can_use_a_folder_it_owns(make_app, server_folder):
    user = serving_user()
    app = make_app(server_folder, UPLOAD_FOLDER=str(server_folder / "uploads"))
    # The test made the schema; hand the file over as `make run` does.
    give_to_server(server_folder)

    result = doctor_says(app, "--user", user)

    assert result.exit_code == 0, result.output
    assert verdict(result, "database folder").startswith(
        f"OK database folder {user} can write {server_folder}"
    )
    assert verdict(result, "upload folder") == (
        f"OK upload folder {server_folder}/uploads does not exist yet; "
        f"{user} can create it."
    )


def test_an_absolute_path_outside_tmp_is_fine():
    found = doctor.check_database_path("sqlite:////srv/homepage/blog.db")
    assert (found.status, found.message) == (
        "OK",
        "/srv/homepage/blog.db is an absolute path.",
    )


def test_a_database_in_tmp_is_a_warning(make_app):
    result = doctor_says(make_app())

    line = verdict(result, "database path")
    assert line.startswith("WARN") and "private /tmp" in line
    assert "fix: move the database" in line


@pytest.mark.parametrize(
    "url", ["sqlite:///blog.db", "sqlite:///instance/blog.db", "postgresql://db/blog"]
)
def test_a_relative_or_foreign_database_url_fails(make_app, url):
    app = make_app()
    # The app itself refuses a relative path at start (db.init_app); here the
    # setting changes after start, as a hand-edited config seen by another tool.
    app.config["DATABASE_URL"] = url

    result = doctor_says(app)

    assert result.exit_code == 1
    line = verdict(result, "database path")
    assert line.startswith("FAIL") and "fix: set DATABASE_URL" in line
    assert "checks failed." in result.output


def test_a_folder_the_serving_user_cannot_write_fails(make_app, tmp_path):
    # pytest's tmp_path lives in a folder only its owner may enter.
    result = doctor_says(make_app(), "--user", "www-data")

    assert result.exit_code == 1
    line = verdict(result, "database folder")
    assert line.startswith(f"FAIL database folder www-data cannot write {tmp_path}")
    assert f"fix: sudo chown www-data: {tmp_path}" in line


@needs_root
def test_a_database_file_created_by_root_fails(make_app, server_folder):
    # The folder belongs to www-data, but root ran init-db and owns the file.
    app = make_app(server_folder)
    assert (server_folder / "blog.db").stat().st_uid == 0

    result = doctor_says(app, "--user", "www-data")

    assert result.exit_code == 1
    line = verdict(result, "database folder")
    assert line.startswith("FAIL") and "attempt to write a readonly database" in line
    assert f"fix: sudo chown www-data: {server_folder}/blog.db*" in line


def test_a_missing_database_fails_and_is_not_created(make_app, tmp_path):
    result = doctor_says(make_app(create=False))

    assert result.exit_code == 1
    for check in ("journal mode", "schema"):
        line = verdict(result, check)
        assert line.startswith("FAIL") and "does not exist yet" in line
        assert "init-db" in line
    # Creating it here, as root, would hand Apache a file it cannot write.
    assert list(tmp_path.glob("blog.db*")) == []


def test_a_database_that_refuses_wal_fails(make_app, monkeypatch):
    # Stands in for a network file system where SQLite cannot use WAL, which
    # a test cannot mount; the doctor only reads what SQLite reports.
    monkeypatch.setattr(doctor, "journal_mode", lambda: "delete")

    result = doctor_says(make_app())

    assert result.exit_code == 1
    line = verdict(result, "journal mode")
    assert line.startswith("FAIL") and "journal_mode=delete, not WAL" in line


def test_an_outdated_schema_fails(make_app, tmp_path):
    app = make_app()
    # A database from before tags existed, never upgraded.
    with sqlite3.connect(tmp_path / "blog.db") as connection:
        connection.execute("DROP TABLE post_tags")

    result = doctor_says(app)

    assert result.exit_code == 1
    line = verdict(result, "schema")
    assert line.startswith("FAIL schema") and "flask --app homepage init-db" in line


def test_a_database_from_before_alembic_is_behind_the_code(make_app, tmp_path):
    app = make_app()
    # Every table and index is there, but no revision: never migrated.
    with closing(sqlite3.connect(tmp_path / "blog.db")) as connection:
        connection.execute("DROP TABLE alembic_version")

    result = doctor_says(app)

    assert result.exit_code == 1
    line = verdict(result, "schema")
    assert line.startswith("FAIL schema the database is behind the code")
    assert "made before homepage used Alembic" in line
    assert "flask --app homepage db upgrade" in line
    assert "All 10 checks passed" not in result.output


def test_a_database_behind_the_code_s_newest_revision_fails(make_app, monkeypatch):
    app = make_app()
    # Code with a revision the database has not had yet.
    head = head_revision()
    newer = f"{int(head) + 1:04d}"
    monkeypatch.setattr(doctor, "head_revision", lambda: newer)

    result = doctor_says(app)

    assert result.exit_code == 1
    line = verdict(result, "schema")
    assert line.startswith("FAIL schema the database is behind the code")
    assert f"it has revision {head}, the code needs {newer}" in line


def test_an_upload_folder_the_serving_user_cannot_write_fails(make_app):
    # A folder made by whoever installed the site, mode 0755: readable only.
    folder = Path(tempfile.mkdtemp(prefix="homepage-uploads-"))
    folder.chmod(0o755)
    try:
        result = doctor_says(
            make_app(UPLOAD_FOLDER=str(folder / "images")), "--user", "www-data"
        )
    finally:
        folder.rmdir()

    assert result.exit_code == 1
    line = verdict(result, "upload folder")
    assert line.startswith(f"FAIL upload folder www-data cannot write {folder},")
    assert "fix: set UPLOAD_FOLDER" in line


@pytest.mark.parametrize(
    "key",
    [
        "dev",
        "change-me",
        "Your Secret Key",
        "test secret",
        "7f3a9c2e",
        "x" * 64,
    ],
)
def test_a_placeholder_or_weak_secret_key_fails(make_app, key):
    result = doctor_says(make_app(SECRET_KEY=key))

    assert result.exit_code == 1
    line = verdict(result, "secret key")
    assert line.startswith("FAIL secret key") and "secrets.token_hex(32)" in line


def test_a_generated_key_file_the_serving_user_cannot_read_fails(make_app, tmp_path):
    # No SECRET_KEY setting: the app generates instance/secret_key, mode 0600,
    # owned by whoever ran the first command.
    app = make_app(SECRET_KEY=None)
    key_file = tmp_path / "instance" / "secret_key"
    assert key_file.exists()

    result = doctor_says(app, "--user", "www-data")

    assert result.exit_code == 1
    line = verdict(result, "secret key")
    assert line.startswith(f"FAIL secret key www-data cannot read {key_file}")
    assert f"fix: sudo chown www-data: {key_file}" in line


def test_a_generated_key_file_is_fine_for_its_owner(make_app, tmp_path):
    result = doctor_says(make_app(SECRET_KEY=None))

    line = verdict(result, "secret key")
    assert line == f"OK secret key random, kept in {tmp_path}/instance/secret_key."


def test_a_world_readable_database_fails(make_app, tmp_path):
    app = make_app()
    database = tmp_path / "blog.db"
    database.chmod(0o644)

    result = doctor_says(app)

    assert result.exit_code == 1
    line = verdict(result, "file modes")
    assert line.startswith(f"FAIL file modes every local user can read {database}")
    assert "password hashes" in line
    assert f"fix: chmod o= {database}" in line


def test_a_world_readable_wal_settings_or_key_fails(make_app, tmp_path):
    app = make_app(SECRET_KEY=None)
    instance = tmp_path / "instance"
    (instance / "config.py").write_text("SITE_TITLE = 'Mine'\n")
    (instance / "config.py").chmod(0o644)
    (instance / "secret_key").chmod(0o604)
    # A server holds the database open with writes in its WAL, a file SQLite
    # made with the open mode an older version gave the database.
    with closing(sqlite3.connect(tmp_path / "blog.db")) as server:
        with server:
            server.execute("UPDATE site_state SET version = version + 1")
        (tmp_path / "blog.db-wal").chmod(0o666)
        line = verdict(doctor_says(app), "file modes")

    assert line.startswith("FAIL file modes")
    assert (
        f"fix: chmod o= {tmp_path}/blog.db-wal {instance}/config.py "
        f"{instance}/secret_key"
    ) in line


def test_an_open_instance_or_upload_folder_is_a_warning(make_app, tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir(mode=0o755)
    app = make_app(SECRET_KEY=None, UPLOAD_FOLDER=str(uploads))
    (tmp_path / "instance").chmod(0o755)

    result = doctor_says(app)

    line = verdict(result, "file modes")
    assert line.startswith("WARN file modes every local user can look into")
    assert f"fix: chmod o= {tmp_path}/instance {uploads}" in line


def test_neither_trusted_hosts_nor_site_url_is_a_warning(make_app):
    result = doctor_says(make_app())

    assert result.exit_code == 0
    line = verdict(result, "trusted hosts")
    assert line.startswith(
        "WARN trusted hosts neither TRUSTED_HOSTS nor SITE_URL is set"
    )
    assert "fix: set SITE_URL = 'https://blog.example.org' and TRUSTED_HOSTS" in line


@pytest.mark.parametrize(
    "config",
    [
        {"TRUSTED_HOSTS": ["blog.example.org", "localhost"]},
        {"SITE_URL": "https://blog.example.org"},
        {"SITE_URL": "https://blog.example.org", "TRUSTED_HOSTS": [".example.org"]},
    ],
)
def test_trusted_hosts_or_site_url_is_enough(make_app, config):
    line = verdict(doctor_says(make_app(**config)), "trusted hosts")
    assert line.startswith("OK trusted hosts")


def test_a_site_url_outside_trusted_hosts_fails(make_app):
    app = make_app(SITE_URL="https://blog.example.org", TRUSTED_HOSTS=["localhost"])

    result = doctor_says(app)

    assert result.exit_code == 1
    line = verdict(result, "trusted hosts")
    assert line.startswith("FAIL trusted hosts SITE_URL names blog.example.org")
    assert "fix: add 'blog.example.org' to TRUSTED_HOSTS" in line


def test_a_pool_smaller_than_the_thread_count_fails(make_app):
    app = make_app(DATABASE_POOL_SIZE=5)

    result = doctor_says(app, "--threads", "15")

    assert result.exit_code == 1
    line = verdict(result, "pool size")
    assert line.startswith("FAIL pool size DATABASE_POOL_SIZE is 5")
    assert "fix: set DATABASE_POOL_SIZE = 15" in line
    assert doctor_says(app, "--threads", "4").exit_code == 0


def test_an_unknown_user_is_refused(make_app):
    result = doctor_says(make_app(), "--user", "no-such-user-here")

    assert result.exit_code == 2
    assert "there is no user named 'no-such-user-here'" in result.output


def test_root_is_told_to_check_as_the_serving_user(make_app):
    result = doctor_says(make_app())

    has_note = "pass --user www-data" in result.output
    assert has_note == is_root()


@needs_root
def test_a_serving_user_that_can_change_the_settings_fails(make_app, server_folder):
    # The instance folder is www-data's: it could write config.py, which every
    # flask command run by root executes.
    instance = server_folder / "instance"
    app = make_app(
        server_folder, instance=instance, UPLOAD_FOLDER=str(server_folder / "uploads")
    )
    instance.mkdir(mode=0o750)
    give_to_server(server_folder)

    result = doctor_says(app, "--user", "www-data")

    assert result.exit_code == 1
    line = verdict(result, "file modes")
    assert line.startswith(f"FAIL file modes www-data can change {instance}:")
    assert "could become root" in line
    assert f"fix: chown -R root: {instance}" in line
    # The same folder, root's again: the check passes.
    os.chown(instance, 0, 0)
    again = doctor_says(app, "--user", "www-data")
    assert verdict(again, "file modes").startswith("OK file modes"), again.output

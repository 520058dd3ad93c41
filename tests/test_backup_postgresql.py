"""Backups on PostgreSQL: pg_dump's archive, checked on a scratch database.

The stories of test_backup.py, told on PostgreSQL; they run in the
PostgreSQL pass (``HOMEPAGE_TEST_DATABASE=postgresql``), where ``app`` is on
its own PostgreSQL database.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image as PILImage
from sqlalchemy import func, select, text

from homepage.core.models import Author, Image, Post, Revision
from homepage.db import get_engine, make_engine, session
from homepage.ops import pgtools

from .authors_support import add_author
from .support import AuthActions

pytestmark = pytest.mark.slow


def png(colour: tuple[int, int, int]) -> bytes:
    """Return a small PNG."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (3, 3), colour).save(buffer, "PNG")
    return buffer.getvalue()


def upload(auth: AuthActions, data: bytes) -> str:
    """Upload an image and return its stored name."""
    response = auth.post_form("/admin/images/", image=(io.BytesIO(data), "x.png"))
    assert response.status_code == 302
    with auth._client.application.app_context():
        return session.scalars(select(Image.name).order_by(Image.id.desc())).first()


def titles(app: Flask) -> list[str]:
    """Return the titles of every post."""
    with app.app_context():
        return sorted(session.scalars(select(Post.title)))


def authors(app: Flask) -> list[str]:
    """Return the names of every author."""
    with app.app_context():
        return sorted(session.scalars(select(Author.username)))


def revisions(app: Flask) -> int:
    """Count the revisions of every post."""
    with app.app_context():
        return session.scalar(select(func.count()).select_from(Revision))


def scratch_databases(app: Flask) -> list[str]:
    """Return the names of the scratch databases left on the server."""
    with get_engine(app).connect() as connection:
        return list(
            connection.scalars(
                text("SELECT datname FROM pg_database WHERE datname LIKE '%scratch%'")
            )
        )


def refresh_checksum(folder: Path, relative: str) -> None:
    """Make the manifest's checksum of a file match it again."""
    manifest = json.loads((folder / "manifest.json").read_text())
    data = (folder / relative).read_bytes()
    manifest["files"][relative] = {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


def assert_refused_cleanly(result, message: str) -> None:
    """Check for a CLI error with ``message``: exit code 1, no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.postgresql
def test_backup_writes_an_archive_with_images_and_manifest(app, runner, auth, tmp_path):
    auth.login()
    auth.create_post("First")
    name = upload(auth, png((10, 200, 10)))

    result = runner.invoke(args=["backup", str(tmp_path / "backup")])

    assert result.exit_code == 0, result.output
    assert "archive read back by pg_restore --list: ok" in result.output
    folder = tmp_path / "backup"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "postgresql"
    assert manifest["database"] == "blog.dump"
    assert manifest["database_format"] == "pg_dump custom"
    assert "blog.dump" in manifest["files"]
    assert f"uploads/{name}" in manifest["files"]
    for relative, expected in manifest["files"].items():
        data = (folder / relative).read_bytes()
        assert expected["sha256"] == hashlib.sha256(data).hexdigest()
    with app.app_context():
        contents = pgtools.list_archive(folder / "blog.dump")
    assert "TABLE DATA public posts" in contents
    assert sorted(path.name for path in folder.iterdir()) == [
        "blog.dump",
        "manifest.json",
        "uploads",
    ]


@pytest.mark.postgresql
def test_restore_puts_back_posts_revisions_images_and_authors(
    app, client, runner, auth, tmp_path
):
    auth.login()
    auth.create_post("Kept", body="First words.")
    edit = {"title": "Kept", "status": "published", "action": "save"}
    auth.post_form("/admin/posts/1/edit", body="Second words.", **edit)
    add_author(app, "bob")
    kept_image = upload(auth, png((1, 2, 3)))
    before = revisions(app)
    assert runner.invoke(args=["backup", str(tmp_path / "backup")]).exit_code == 0
    auth.post_form("/admin/posts/1/delete")
    auth.post_form("/admin/posts/1/purge")
    auth.create_post("Written later")
    add_author(app, "carol")
    later_image = upload(auth, png((4, 5, 6)))
    uploads = Path(app.config["UPLOAD_FOLDER"])
    (uploads / kept_image).unlink()

    result = runner.invoke(args=["restore", "--yes", str(tmp_path / "backup")])

    assert result.exit_code == 0, result.output
    assert "loaded into a scratch database, upgraded to this version" in result.output
    assert "Restored the database and 1 image" in result.output
    assert titles(app) == ["Kept"]
    assert authors(app) == ["alice", "bob"]
    assert revisions(app) == before
    page = client.get("/posts/kept").get_data(as_text=True)
    assert "Second words." in page
    restored = sorted(path.name for path in uploads.iterdir())
    assert [name for name in restored if len(name) == 36] == [kept_image]
    for name in restored:
        with client.get(f"/media/{name}") as served:
            assert served.status_code == 200
    # Everyone logs in again, and the next post gets the id after the
    # restored ones.
    assert client.get("/admin/").status_code == 302
    auth.login()
    assert auth.create_post("After the restore").status_code == 302
    with app.app_context():
        assert session.scalar(select(func.max(Post.id))) == 2
    # What was replaced was backed up first, with PostgreSQL's tools too.
    [safety] = (tmp_path / "backups").iterdir()
    assert safety.name.startswith("before-restore-")
    manifest = json.loads((safety / "manifest.json").read_text())
    assert manifest["kind"] == "postgresql"
    assert f"uploads/{later_image}" in manifest["files"]
    assert scratch_databases(app) == []


@pytest.mark.postgresql
def test_pages_seen_before_a_restore_are_not_served_after_it(
    app, runner, auth, tmp_path
):
    auth.login()
    auth.create_post("Original")
    assert runner.invoke(args=["backup", str(tmp_path / "backup")]).exit_code == 0
    edit = {"body": "b", "status": "published", "action": "save"}
    auth.post_form("/admin/posts/1/edit", title="Edited before restore", **edit)
    reader = app.test_client()
    assert "Edited before restore" in reader.get("/").get_data(as_text=True)
    result = runner.invoke(args=["restore", "--yes", str(tmp_path / "backup")])
    assert result.exit_code == 0, result.output
    assert "Original" in reader.get("/").get_data(as_text=True)
    auth.login()
    auth.post_form("/admin/posts/1/edit", title="Edited after restore", **edit)
    page = reader.get("/").get_data(as_text=True)
    assert "Edited after restore" in page
    assert "Edited before restore" not in page


@pytest.fixture
def backup(app: Flask, runner, auth, tmp_path) -> Path:
    """Write a backup of a site with one post and one image; then add a post."""
    auth.login()
    auth.create_post("In the backup")
    upload(auth, png((10, 200, 10)))
    assert runner.invoke(args=["backup", str(tmp_path / "backup")]).exit_code == 0
    auth.create_post("Not in the backup")
    return tmp_path / "backup"


def _truncate(folder: Path) -> None:
    archive = folder / "blog.dump"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    refresh_checksum(folder, "blog.dump")


def _damage_data(folder: Path) -> None:
    # The table of contents, first, still reads; the last table's compressed
    # rows, last, do not load.
    archive = folder / "blog.dump"
    data = bytearray(archive.read_bytes())
    data[-20:-10] = bytes(byte ^ 0xFF for byte in data[-20:-10])
    archive.write_bytes(bytes(data))
    refresh_checksum(folder, "blog.dump")


def _not_an_archive(folder: Path) -> None:
    (folder / "blog.dump").write_text("SELECT 1;\n")
    refresh_checksum(folder, "blog.dump")


def _drop_a_column(folder: Path, app: Flask) -> None:
    # An archive of a database whose posts have lost their titles.
    archive = folder / "blog.dump"
    with app.app_context(), pgtools.scratch_database(get_engine(app)) as engine:
        pgtools.restore(engine, archive)
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE posts DROP COLUMN title"))
        archive.unlink()
        pgtools.dump(engine, archive)
    refresh_checksum(folder, "blog.dump")


def _flip_a_byte(folder: Path) -> None:
    archive = folder / "blog.dump"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))


DAMAGE = {
    "checksum": (lambda folder, app: _flip_a_byte(folder), "does not match"),
    "not-an-archive": (
        lambda folder, app: _not_an_archive(folder),
        "is not a readable archive",
    ),
    "truncated": (
        lambda folder, app: _truncate(folder),
        "is not a readable archive",
    ),
    "damaged-data": (
        lambda folder, app: _damage_data(folder),
        "does not load into a scratch database: pg_restore failed",
    ),
    "missing-column": (_drop_a_column, "posts.title"),
}


@pytest.mark.postgresql
@pytest.mark.parametrize(("damage", "message"), DAMAGE.values(), ids=DAMAGE)
def test_restore_refuses_a_damaged_archive_and_changes_nothing(
    app, runner, backup, tmp_path, damage, message
):
    damage(backup, app)
    uploads_before = sorted(Path(app.config["UPLOAD_FOLDER"]).iterdir())

    result = runner.invoke(args=["restore", "--yes", str(backup)])

    assert_refused_cleanly(result, message)
    assert titles(app) == ["In the backup", "Not in the backup"]
    assert sorted(Path(app.config["UPLOAD_FOLDER"]).iterdir()) == uploads_before
    assert not (tmp_path / "backups").exists()
    assert not list(tmp_path.glob(".restore-*"))
    assert scratch_databases(app) == []
    reader = app.test_client()
    for path in ["/", "/posts/in-the-backup", "/posts/not-in-the-backup"]:
        assert reader.get(path).status_code == 200, path


@pytest.mark.postgresql
def test_a_backup_restores_only_onto_its_own_kind_of_database(
    app, make_app, runner, auth, tmp_path
):
    auth.login()
    auth.create_post("On PostgreSQL")
    assert runner.invoke(args=["backup", str(tmp_path / "pg")]).exit_code == 0
    lite = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'blog.db'}")
    lite_runner = lite.test_cli_runner()
    assert lite_runner.invoke(args=["backup", str(tmp_path / "lite")]).exit_code == 0

    onto_postgresql = runner.invoke(args=["restore", "--yes", str(tmp_path / "lite")])
    onto_sqlite = lite_runner.invoke(args=["restore", "--yes", str(tmp_path / "pg")])

    assert_refused_cleanly(
        onto_postgresql,
        "is a backup of a SQLite database and this site runs on PostgreSQL",
    )
    assert_refused_cleanly(
        onto_sqlite, "is a backup of a PostgreSQL database and this site runs on SQLite"
    )
    assert "copy-db" in onto_sqlite.output
    assert titles(app) == ["On PostgreSQL"]
    assert titles(lite) == []


@pytest.mark.postgresql
def test_missing_postgresql_programs_are_a_clear_error(app, runner, tmp_path):
    app.config["POSTGRESQL_BIN"] = str(tmp_path / "nowhere")

    result = runner.invoke(args=["backup", str(tmp_path / "backup")])

    assert_refused_cleanly(result, f"pg_dump was not found in {tmp_path / 'nowhere'}")
    assert "POSTGRESQL_BIN" in result.output
    assert not (tmp_path / "backup").exists()


def test_the_password_reaches_the_programs_in_the_environment_only(
    app, monkeypatch, tmp_path
):
    engine = make_engine(
        "postgresql+psycopg://blogger:s%40cret@db.example:5433/blog?sslmode=require"
    )
    # The URL wins over the caller's environment, as for the site's engine.
    monkeypatch.setenv("PGDATABASE", "someone_elses")
    calls = []

    def run(command, **options):
        calls.append((command, options["env"]))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(pgtools.subprocess, "run", run)
    # Any executable file will do: it is never run.
    (tmp_path / "pg_dump").touch(mode=0o755)
    app.config["POSTGRESQL_BIN"] = str(tmp_path)
    with app.app_context():
        pgtools.dump(engine, tmp_path / "blog.dump")
    engine.dispose()

    [(command, environment)] = calls
    assert not any("s@cret" in argument for argument in command)
    assert environment["PGPASSWORD"] == "s@cret"
    assert environment["PGUSER"] == "blogger"
    assert environment["PGHOST"] == "db.example"
    assert environment["PGPORT"] == "5433"
    assert environment["PGDATABASE"] == "blog"
    assert environment["PGSSLMODE"] == "require"

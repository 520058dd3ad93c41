"""Backups: consistent while the site serves, checked, and restored only when sound."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image as PILImage
from sqlalchemy import func, select

from homepage.core.models import Image, ImageVariant, Post
from homepage.core.schema import schema_is_current
from homepage.db import journal_mode, session
from homepage.ops import backup as backup_module

from .support import AuthActions

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
# SQLite's backup API and database files: PostgreSQL's backups are pgbackup's.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite]


def png(colour: tuple[int, int, int] = (10, 200, 10)) -> bytes:
    """Return a small PNG."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (3, 3), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def instance(app: Flask, tmp_path: Path) -> Path:
    """Keep the instance folder under the test's tmp_path (no backups go there)."""
    app.instance_path = str(tmp_path / "instance")
    return tmp_path / "instance"


def titles(app: Flask) -> list[str]:
    """Return the titles of every post."""
    with app.app_context():
        return sorted(session.scalars(select(Post.title)))


def backup_titles(folder: Path) -> list[str]:
    """Return the titles of the posts in a backup's database."""
    conn = sqlite3.connect(folder / "blog.db")
    try:
        return sorted(title for (title,) in conn.execute("SELECT title FROM posts"))
    finally:
        conn.close()


def upload(auth, data: bytes) -> str:
    """Upload an image and return its stored name."""
    response = auth.post_form("/admin/images/", image=(io.BytesIO(data), "x.png"))
    assert response.status_code == 302
    with auth._client.application.app_context():
        return session.scalars(select(Image.name).order_by(Image.id.desc())).first()


def variant_names(app: Flask, name: str) -> list[str]:
    """Return the names of the variants (WebP, AVIF...) of the image ``name``."""
    with app.app_context():
        return list(
            session.scalars(
                select(ImageVariant.name)
                .join(Image, ImageVariant.image_id == Image.id)
                .where(Image.name == name)
            )
        )


def test_backup_writes_a_checked_copy_with_images_and_manifest(
    app, runner, auth, tmp_path
):
    auth.login()
    auth.create_post("First")
    name = upload(auth, png())
    result = runner.invoke(args=["backup", str(tmp_path / "backup")])
    assert result.exit_code == 0, result.output
    assert "integrity check: ok" in result.output
    folder = tmp_path / "backup"
    manifest = json.loads((folder / "manifest.json").read_text())
    # The image with its variants, each checksummed.
    variants = variant_names(app, name)
    assert variants
    assert set(manifest["files"]) == {"blog.db", f"uploads/{name}"} | {
        f"uploads/{variant}" for variant in variants
    }
    for relative, expected in manifest["files"].items():
        data = (folder / relative).read_bytes()
        assert expected == {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    assert backup_titles(folder) == ["First"]
    # One self-contained file, and no half-written folder left behind.
    assert sorted(path.name for path in folder.iterdir()) == [
        "blog.db",
        "manifest.json",
        "uploads",
    ]
    assert [path.name for path in tmp_path.iterdir() if ".partial" in path.name] == []


def test_backup_refuses_a_folder_that_is_not_empty(runner, tmp_path):
    target = tmp_path / "existing"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert [path.name for path in target.iterdir()] == ["notes.txt"]


def test_backup_is_consistent_while_the_site_keeps_writing(app, runner, tmp_path):
    stop = threading.Event()
    enough = threading.Barrier(5)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def write(number: int) -> None:
        try:
            author = AuthActions(app.test_client())
            author.login()
            count = 0
            while not stop.is_set():
                response = author.create_post(f"Writer {number} post {count}")
                statuses.append(response.status_code)
                count += 1
                if count == 3:
                    enough.wait()
        except BaseException as exc:  # reported below
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in writers:
        thread.start()
    # Every writer is writing by now and keeps on while the backup runs.
    enough.wait()
    before = len(titles(app))
    result = runner.invoke(args=["backup", str(tmp_path / "backup")])
    after = len(titles(app))
    stop.set()
    for thread in writers:
        thread.join()
    assert errors == []
    assert set(statuses) == {302}
    assert result.exit_code == 0, result.output
    copied = backup_titles(tmp_path / "backup")
    assert before <= len(copied) <= after
    assert len(set(copied)) == len(copied)


def test_restore_puts_back_posts_and_images_and_logs_everyone_out(
    app, client, runner, auth, tmp_path, instance
):
    auth.login()
    auth.create_post("Kept")
    kept_image = upload(auth, png((1, 2, 3)))
    assert runner.invoke(args=["backup", str(tmp_path / "backup")]).exit_code == 0
    auth.post_form("/admin/posts/1/delete")
    auth.post_form("/admin/posts/1/purge")
    auth.create_post("Written later")
    later_image = upload(auth, png((4, 5, 6)))
    uploads = Path(app.config["UPLOAD_FOLDER"])
    (uploads / kept_image).unlink()

    result = runner.invoke(args=["restore", "--yes", str(tmp_path / "backup")])
    assert result.exit_code == 0, result.output
    assert "Restored the database and 1 image" in result.output
    assert titles(app) == ["Kept"]
    restored = sorted(path.name for path in uploads.iterdir())
    # The image and its variants (WebP, AVIF) came back; the later one's went.
    assert [name for name in restored if len(name) == 36] == [kept_image]
    assert len(restored) > 1
    assert all(name.startswith(kept_image[:32]) for name in restored)
    for name in restored:
        with client.get(f"/media/{name}") as served:
            assert served.status_code == 200
    assert client.get("/posts/kept").status_code == 200
    # The sessions in the copy belong to another time: everyone logs in again.
    assert client.get("/admin/").status_code == 302
    assert journal_mode(app) == "wal"
    # What was replaced was backed up first, beside the database, not in the
    # instance folder root runs its settings from.
    assert not (instance / "backups").exists()
    [safety] = (tmp_path / "backups").iterdir()
    assert safety.name.startswith("before-restore-")
    assert backup_titles(safety) == ["Written later"]
    assert (safety / "uploads" / later_image).is_file()


def test_pages_seen_before_a_restore_are_not_served_after_it(
    app, client, runner, auth, tmp_path, instance
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
    auth.login()
    # One edit after the restore: the content version would be back where it
    # was before the restore if the restored copy's numbering were kept.
    auth.post_form("/admin/posts/1/edit", title="Edited after restore", **edit)
    page = reader.get("/").get_data(as_text=True)
    assert "Edited after restore" in page
    assert "Edited before restore" not in page


def test_restore_asks_first(app, runner, auth, tmp_path, instance):
    auth.login()
    auth.create_post("Old")
    runner.invoke(args=["backup", str(tmp_path / "backup")])
    auth.create_post("New")
    result = runner.invoke(args=["restore", str(tmp_path / "backup")], input="n\n")
    assert result.exit_code != 0
    assert "Replace the site's posts and images" in result.output
    assert titles(app) == ["New", "Old"]


@pytest.fixture
def backup(app, runner, auth, tmp_path) -> Path:
    """Write a backup of a site with one post and one image; then add a post."""
    auth.login()
    auth.create_post("In the backup")
    upload(auth, png())
    assert runner.invoke(args=["backup", str(tmp_path / "backup")]).exit_code == 0
    auth.create_post("Not in the backup")
    return tmp_path / "backup"


def _rewrite_manifest(folder: Path, change) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _refresh_checksum(folder: Path, relative: str):
    def change(manifest):
        data = (folder / relative).read_bytes()
        manifest["files"][relative] = {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }

    _rewrite_manifest(folder, change)


def _flip_a_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _damage_database(folder: Path) -> None:
    # Scribble over the second page (a table's b-tree page); the checksum is
    # then made to match, so only the integrity check can notice.
    path = folder / "blog.db"
    data = bytearray(path.read_bytes())
    data[4096 + 8 : 4096 + 200] = b"\xa5" * 192
    path.write_bytes(bytes(data))
    _refresh_checksum(folder, "blog.db")


def _image_name(folder: Path) -> str:
    return next((folder / "uploads").iterdir()).name


TAMPERING = {
    "database-bytes": (
        lambda folder: _flip_a_byte(folder / "blog.db", 5000),
        "does not match its checksum",
    ),
    "image-bytes": (
        lambda folder: _flip_a_byte(folder / "uploads" / _image_name(folder), 20),
        "does not match its checksum",
    ),
    "missing-image": (
        lambda folder: (folder / "uploads" / _image_name(folder)).unlink(),
        "is missing",
    ),
    "damaged-database": (_damage_database, "blog.db"),
    "path-in-manifest": (
        lambda folder: _rewrite_manifest(
            folder,
            lambda m: m["files"].update({"../blog.db": m["files"]["blog.db"]}),
        ),
        "unexpected file",
    ),
    "no-manifest": (
        lambda folder: (folder / "manifest.json").unlink(),
        "not a backup",
    ),
    "damaged-manifest": (
        lambda folder: (folder / "manifest.json").write_text("{not json"),
        "is damaged",
    ),
    "deeply-nested-manifest": (
        lambda folder: (folder / "manifest.json").write_text(
            '{"files": ' + "[" * 100_000 + "]" * 100_000 + "}"
        ),
        "is damaged",
    ),
    "manifest-not-an-object": (
        lambda folder: (folder / "manifest.json").write_text("[1]"),
        "has no format number",
    ),
    "format-true": (
        lambda folder: _rewrite_manifest(folder, lambda m: m.update(format=True)),
        "has no format number",
    ),
    "no-created-at": (
        lambda folder: _rewrite_manifest(folder, lambda m: m.pop("created_at")),
        "'created_at' is not a date",
    ),
    "unknown-kind": (
        lambda folder: _rewrite_manifest(folder, lambda m: m.update(kind="oracle")),
        "'kind' is not a database homepage uses",
    ),
    "kind-as-a-list": (
        lambda folder: _rewrite_manifest(folder, lambda m: m.update(kind=[])),
        "'kind' is not a database homepage uses",
    ),
    "no-files": (
        lambda folder: _rewrite_manifest(folder, lambda m: m.pop("files")),
        "lists no database",
    ),
    "files-as-a-list": (
        lambda folder: _rewrite_manifest(folder, lambda m: m.update(files=[])),
        "lists no database",
    ),
    "size-as-text": (
        lambda folder: _rewrite_manifest(
            folder, lambda m: m["files"]["blog.db"].update(size="big")
        ),
        "no size and SHA-256 for 'blog.db'",
    ),
    "no-checksum": (
        lambda folder: _rewrite_manifest(
            folder, lambda m: m["files"]["blog.db"].pop("sha256")
        ),
        "no size and SHA-256 for 'blog.db'",
    ),
    "no-missing-images": (
        lambda folder: _rewrite_manifest(folder, lambda m: m.pop("missing_images")),
        "'missing_images' is not a list",
    ),
}


def assert_site_unchanged(app: Flask, instance: Path, uploads_before: list) -> None:
    """Check that a refused restore left posts, images and pages as they were."""
    assert titles(app) == ["In the backup", "Not in the backup"]
    assert sorted(Path(app.config["UPLOAD_FOLDER"]).iterdir()) == uploads_before
    assert not (instance / "backups").exists()
    assert not (instance.parent / "backups").exists()
    reader = app.test_client()
    for path in ["/", "/posts/in-the-backup", "/posts/not-in-the-backup"]:
        assert reader.get(path).status_code == 200, path
    # No scratch copy is left beside the database either.
    database = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
    assert not list(database.parent.glob(".restore-*"))


def assert_refused_cleanly(result, message: str) -> None:
    """Check for a CLI error with ``message``: exit code 1, no traceback."""
    assert result.exit_code == 1, result.output
    # A click exception ends the command with SystemExit; anything else
    # would have been a traceback.
    assert isinstance(result.exception, SystemExit), result.exception
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("tamper", "message"), TAMPERING.values(), ids=TAMPERING)
def test_restore_refuses_a_damaged_backup_and_changes_nothing(
    app, runner, backup, instance, tamper, message
):
    tamper(backup)
    uploads_before = sorted(Path(app.config["UPLOAD_FOLDER"]).iterdir())
    result = runner.invoke(args=["restore", "--yes", str(backup)])
    assert_refused_cleanly(result, message)
    assert_site_unchanged(app, instance, uploads_before)


def test_restore_refuses_a_manifest_too_large_to_read(
    app, runner, backup, instance, monkeypatch
):
    monkeypatch.setattr(backup_module, "MAX_MANIFEST_BYTES", 4096)
    manifest = backup / "manifest.json"
    manifest.write_text(manifest.read_text() + " " * 4096)
    uploads_before = sorted(Path(app.config["UPLOAD_FOLDER"]).iterdir())
    result = runner.invoke(args=["restore", "--yes", str(backup)])
    assert_refused_cleanly(result, "is too large to be a manifest")
    assert_site_unchanged(app, instance, uploads_before)


def _change_database(folder: Path, *statements: str) -> None:
    """Run SQL on a backup's database, then make its checksum match again."""
    conn = sqlite3.connect(folder / "blog.db")
    try:
        conn.execute("PRAGMA foreign_keys = OFF")
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()
    _refresh_checksum(folder, "blog.db")


def _rebuild_posts(folder: Path, change) -> None:
    """Recreate the backup's posts table from its own DDL passed through ``change``."""
    conn = sqlite3.connect(folder / "blog.db")
    try:
        (ddl,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'posts'"
        ).fetchone()
    finally:
        conn.close()
    columns = "id, title, slug, body, body_html, summary, summary_html, status, "
    columns += "kind, author_id, created_at, updated_at, published_at, version"
    _change_database(
        folder,
        "ALTER TABLE posts RENAME TO old_posts",
        change(ddl),
        f"INSERT INTO posts ({columns}, mood) SELECT {columns}, 'calm' FROM old_posts",
        "DROP TABLE old_posts",
    )


#: Backups whose tables have the right names and the wrong columns.
UNFIT = {
    "missing-column": (
        lambda folder: _change_database(folder, "ALTER TABLE posts DROP COLUMN title"),
        "posts.title",
    ),
    "renamed-column": (
        lambda folder: _change_database(
            folder, "ALTER TABLE posts RENAME COLUMN body_html TO html"
        ),
        "posts.body_html",
    ),
    "text-in-a-date-column": (
        lambda folder: _change_database(
            folder, "UPDATE posts SET created_at = 'last tuesday'"
        ),
        "the rows of posts cannot be read",
    ),
    "unknown-required-column": (
        lambda folder: _rebuild_posts(
            folder,
            lambda ddl: ddl.replace("(", "(mood TEXT NOT NULL, ", 1),
        ),
        "the column posts.mood is required but unknown here",
    ),
    "no-primary-key": (
        lambda folder: _change_database(
            folder,
            "ALTER TABLE tags RENAME TO old_tags",
            "CREATE TABLE tags (id INTEGER, name VARCHAR(64))",
            "DROP TABLE old_tags",
        ),
        "the table tags has the wrong primary key",
    ),
    "view-for-a-table": (
        lambda folder: _change_database(
            folder,
            "DROP TABLE tags",
            "CREATE VIEW tags AS SELECT 1 AS id, 'x' AS name",
        ),
        "the table tags has the wrong primary key",
    ),
    "from-newer-code": (
        lambda folder: _change_database(
            folder, "UPDATE alembic_version SET version_num = 'ffff'"
        ),
        "the database is at revision ffff, which this version of homepage does "
        "not know",
    ),
    "trigger": (
        lambda folder: _change_database(
            folder,
            "CREATE TRIGGER wipe AFTER INSERT ON posts BEGIN DELETE FROM tags; END",
        ),
        "the trigger wipe is not homepage's",
    ),
}


@pytest.mark.parametrize(("unfit", "message"), UNFIT.values(), ids=UNFIT)
def test_restore_refuses_a_backup_that_does_not_fit_the_code(
    app, runner, backup, instance, unfit, message
):
    unfit(backup)
    uploads_before = sorted(Path(app.config["UPLOAD_FOLDER"]).iterdir())
    result = runner.invoke(args=["restore", "--yes", str(backup)])
    assert_refused_cleanly(result, "does not fit this version of homepage")
    assert message in result.output
    assert_site_unchanged(app, instance, uploads_before)


def test_restore_upgrades_a_backup_from_an_older_version(
    app, client, runner, backup, instance
):
    # What an older homepage lacked: columns with defaults, indexes, a whole
    # table, the search index and Alembic's version table.
    _change_database(
        backup,
        "DROP INDEX ix_posts_kind_status_published_at",
        "DROP INDEX ix_posts_status_published_at",
        "DROP INDEX ix_posts_status_id",
        "ALTER TABLE posts DROP COLUMN kind",
        "ALTER TABLE images DROP COLUMN original_name",
        "DROP TABLE login_failures",
        "DROP TABLE post_search",
        "DROP TABLE alembic_version",
    )
    result = runner.invoke(args=["restore", "--yes", str(backup)])
    assert result.exit_code == 0, result.output
    assert titles(app) == ["In the backup"]
    assert client.get("/").status_code == 200
    assert client.get("/posts/in-the-backup").status_code == 200
    found = client.get("/search?q=backup").get_data(as_text=True)
    assert "1 result for" in found and 'href="/posts/in-the-backup"' in found
    with app.app_context():
        assert schema_is_current()


def test_the_restored_database_passes_its_own_integrity_check(
    app, runner, backup, instance
):
    assert runner.invoke(args=["restore", "--yes", str(backup)]).exit_code == 0
    with app.app_context():
        assert session.execute(select(func.count(Post.id))).scalar_one() == 1
        check = session.connection().exec_driver_sql("PRAGMA integrity_check")
        assert check.scalar() == "ok"


def test_backup_without_a_folder_writes_a_new_one_each_time(app, runner, tmp_path):
    first = runner.invoke(args=["backup"])
    second = runner.invoke(args=["backup"])

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    made = sorted((tmp_path / "backups").iterdir())
    assert len(made) == 2
    assert f"to {made[0]};" in first.output + second.output
    assert f"to {made[1]};" in first.output + second.output
    for folder in made:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d{6}Z(-\d+)?", folder.name)
        assert backup_titles(folder) == []


def test_backup_goes_to_the_backup_folder_setting(app, runner, tmp_path):
    app.config["BACKUP_FOLDER"] = str(tmp_path / "elsewhere")

    assert runner.invoke(args=["backup"]).exit_code == 0

    assert len(list((tmp_path / "elsewhere").iterdir())) == 1
    assert not (tmp_path / "backups").exists()


def test_a_backup_is_readable_by_its_owner_alone(app, runner, auth, tmp_path):
    auth.login()
    name = upload(auth, png())
    previous = os.umask(0o022)  # the usual umask, under which files are 0644
    try:
        result = runner.invoke(args=["backup"])
    finally:
        os.umask(previous)

    assert result.exit_code == 0, result.output
    backups = tmp_path / "backups"
    [folder] = backups.iterdir()
    modes = {
        path.relative_to(backups).as_posix(): stat.filemode(path.stat().st_mode)
        for path in [backups, folder, *folder.rglob("*")]
    }
    assert modes.pop(".") == "drwx------"
    assert modes.pop(folder.name) == "drwx------"
    assert modes.pop(f"{folder.name}/uploads") == "drwx------"
    # blog.db, manifest.json, the image and its variants
    assert len(modes) == 3 + len(variant_names(app, name))
    assert set(modes.values()) == {"-rw-------"}


def test_a_backup_folder_that_cannot_be_made_is_a_clear_error(runner, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")

    result = runner.invoke(args=["backup", str(tmp_path / "a-file" / "today")])

    assert result.exit_code == 1
    assert f"Error: cannot create {tmp_path / 'a-file'}" in result.output
    assert isinstance(result.exception, SystemExit)

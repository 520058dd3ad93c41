"""Backups: consistent while the site serves, checked, and restored only when sound."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import threading
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image as PILImage
from sqlalchemy import func, select

from homepage.db import journal_mode, session
from homepage.models import Image, Post

from .conftest import AuthActions


def png(colour: tuple[int, int, int] = (10, 200, 10)) -> bytes:
    """Return a small PNG."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (3, 3), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def instance(app: Flask, tmp_path: Path) -> Path:
    """Keep the instance folder (safety backups) under the test's tmp_path."""
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
    assert set(manifest["files"]) == {"blog.db", f"uploads/{name}"}
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
    auth.create_post("Written later")
    later_image = upload(auth, png((4, 5, 6)))
    uploads = Path(app.config["UPLOAD_FOLDER"])
    (uploads / kept_image).unlink()

    result = runner.invoke(args=["restore", "--yes", str(tmp_path / "backup")])
    assert result.exit_code == 0, result.output
    assert "Restored the database and 1 image" in result.output
    assert titles(app) == ["Kept"]
    assert sorted(path.name for path in uploads.iterdir()) == [kept_image]
    with client.get(f"/media/{kept_image}") as served:
        assert served.status_code == 200
    assert client.get("/posts/kept").status_code == 200
    # The sessions in the copy belong to another time: everyone logs in again.
    assert client.get("/admin/").status_code == 302
    assert journal_mode(app) == "wal"
    # What was replaced was backed up first.
    [safety] = (instance / "backups").iterdir()
    assert backup_titles(safety) == ["Written later"]
    assert (safety / "uploads" / later_image).is_file()


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
}


@pytest.mark.parametrize(("tamper", "message"), TAMPERING.values(), ids=TAMPERING)
def test_restore_refuses_a_damaged_backup_and_changes_nothing(
    app, runner, backup, instance, tamper, message
):
    tamper(backup)
    uploads_before = sorted(Path(app.config["UPLOAD_FOLDER"]).iterdir())
    result = runner.invoke(args=["restore", "--yes", str(backup)])
    assert result.exit_code != 0
    assert message in result.output
    assert titles(app) == ["In the backup", "Not in the backup"]
    assert sorted(Path(app.config["UPLOAD_FOLDER"]).iterdir()) == uploads_before
    assert not (instance / "backups").exists()


def test_the_restored_database_passes_its_own_integrity_check(
    app, runner, backup, instance
):
    assert runner.invoke(args=["restore", "--yes", str(backup)]).exit_code == 0
    with app.app_context():
        assert session.execute(select(func.count(Post.id))).scalar_one() == 1
        check = session.connection().exec_driver_sql("PRAGMA integrity_check")
        assert check.scalar() == "ok"

"""Backing up the database and the uploaded images, and restoring a backup.

A backup is a folder::

    blog.db          a copy made with SQLite's online backup API
    uploads/NAME     every image the copied database knows about
    manifest.json    the size and SHA-256 of each file above

SQLite's backup API copies the database in one step inside a read transaction,
so the copy is consistent while the site keeps serving (in WAL mode readers
never block writers, and writers never block it). Files are written under a
temporary name and renamed when verified, so a folder with a manifest is
always a complete, checked backup.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import delete, func, select, update

from . import images
from .db import (
    copy_from_file,
    copy_to_file,
    init_db,
    open_file_read_only,
    session,
    sqlite_path,
)
from .models import Image, LoginSession, SiteState, utcnow

MANIFEST = "manifest.json"
DATABASE = "blog.db"
UPLOADS = "uploads"
FORMAT = 1


class BackupError(click.ClickException):
    """A backup that cannot be written or trusted; the message says why."""


def live_database() -> Path:
    """Return the site's database file."""
    path = sqlite_path(current_app.config["DATABASE_URL"])
    if path is None:
        raise BackupError("backups need a SQLite database file")
    return path


def sha256(path: Path) -> str:
    """Return the SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _image_names(database: Path) -> list[str]:
    """Return the names of the images a database copy knows about."""
    with open_file_read_only(database) as conn:
        rows = conn.execute("SELECT name FROM images ORDER BY name").fetchall()
    return [name for (name,) in rows if images.NAME.fullmatch(name)]


def write_backup(target: Path) -> dict:
    """Write a verified backup folder at ``target``; return its manifest."""
    live_database()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} already exists; choose a new folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.partial-{secrets.token_hex(4)}")
    staging.mkdir()
    try:
        copy_to_file(staging / DATABASE)
        (staging / UPLOADS).mkdir()
        missing = []
        for name in _image_names(staging / DATABASE):
            try:
                shutil.copyfile(images.upload_folder() / name, staging / UPLOADS / name)
            except FileNotFoundError:
                # Deleted after the snapshot; its post no longer shows it.
                missing.append(name)
        files = {}
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                relative = path.relative_to(staging).as_posix()
                files[relative] = {"size": path.stat().st_size, "sha256": sha256(path)}
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": DATABASE,
            "files": files,
            "missing_images": missing,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        verify(staging)
        if target.exists():
            target.rmdir()
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _safe_relative(name: str) -> bool:
    """Tell whether a manifest entry names a file a backup may contain."""
    if name == DATABASE:
        return True
    folder, _, file = name.partition("/")
    return folder == UPLOADS and bool(images.NAME.fullmatch(file))


def verify(folder: Path) -> dict:
    """Check a backup folder's checksums and database; return its manifest."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise BackupError(f"{folder} has no {MANIFEST}; it is not a backup") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{folder / MANIFEST} is damaged") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{folder} is not a backup this version can read")
    files = manifest.get("files")
    if not isinstance(files, dict) or DATABASE not in files:
        raise BackupError(f"{folder / MANIFEST} lists no database")
    for name, expected in files.items():
        # A manifest is data from disk: it must not point outside the folder.
        if not _safe_relative(name) or not isinstance(expected, dict):
            raise BackupError(f"{folder / MANIFEST} lists an unexpected file {name!r}")
        path = folder / name
        if not path.is_file():
            raise BackupError(f"{path} is missing")
        if path.stat().st_size != expected.get("size") or sha256(path) != expected.get(
            "sha256"
        ):
            raise BackupError(f"{path} does not match its checksum")
    try:
        with open_file_read_only(folder / DATABASE) as conn:
            result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{folder / DATABASE} is not a database: {exc}") from exc
    if result != ["ok"]:
        raise BackupError(f"{folder / DATABASE} failed its integrity check: {result}")
    if not {"posts", "authors", "images"} <= tables:
        raise BackupError(f"{folder / DATABASE} is not this blog's database")
    return manifest


def restore_backup(source: Path) -> dict:
    """Replace the site's database and images with a verified backup."""
    live_database()
    manifest = verify(source)
    # The restored copy carries its own, older content version; numbering
    # must go on from the live one, or a cached page (or a reader's ETag)
    # from before the restore could match different content after it.
    live_version = session.scalar(select(SiteState.version)) or 0
    session.commit()  # release the write lock before the backup API needs it
    folder = images.upload_folder()
    folder.mkdir(parents=True, exist_ok=True)
    # Images first: the restored database may point at them the moment it is
    # in place. Names are random and never reused, so copying over an
    # existing file writes the same bytes.
    for name in manifest["files"]:
        if name.startswith(UPLOADS + "/"):
            file = name.partition("/")[2]
            temporary = folder / f".{file}.restoring"
            shutil.copyfile(source / name, temporary)
            os.replace(temporary, folder / file)
    copy_from_file(source / DATABASE)
    # Tables added since the backup was made.
    init_db()
    # Sessions in the copy belong to another time (maybe other passwords):
    # everyone logs in again.
    session.execute(delete(LoginSession))
    session.execute(
        update(SiteState).values(
            version=func.max(SiteState.version, live_version) + 1, changed_at=utcnow()
        )
    )
    known = set(session.scalars(select(Image.name)))
    session.commit()
    for path in folder.iterdir():
        if images.NAME.fullmatch(path.name) and path.name not in known:
            path.unlink(missing_ok=True)
    return manifest


def _summary(manifest: dict) -> str:
    """Describe a manifest's contents in a few words."""
    count = sum(1 for name in manifest["files"] if name.startswith(UPLOADS + "/"))
    return f"the database and {count} image{'s' if count != 1 else ''}"


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(path_type=Path, file_okay=False))
def backup_command(path: Path) -> None:
    """Write a verified backup of the database and images to the folder PATH."""
    manifest = write_backup(path)
    for name in manifest["missing_images"]:
        click.echo(f"warning: {name} was deleted while backing up", err=True)
    click.echo(f"Backed up {_summary(manifest)} to {path}; integrity check: ok.")


@click.command("restore")
@with_appcontext
@click.argument("path", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--no-safety-backup",
    is_flag=True,
    help="Do not back up the current site first.",
)
def restore_command(path: Path, yes: bool, no_safety_backup: bool) -> None:
    """Replace the site's database and images with the backup in PATH."""
    manifest = verify(path)
    click.echo(f"{path} holds {_summary(manifest)} from {manifest['created_at']}.")
    if not yes:
        click.confirm("Replace the site's posts and images with it?", abort=True)
    if not no_safety_backup:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        safety = Path(current_app.instance_path) / "backups" / f"before-restore-{stamp}"
        write_backup(safety)
        click.echo(f"Backed up the current site to {safety} first.")
    restore_backup(path)
    click.echo(f"Restored {_summary(manifest)}. Everyone must log in again.")


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)

"""Image storage: the uploaded files, their rows, and which posts show them."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import or_, select, update

from ..db import get_engine, session, write_transaction
from . import imagefiles
from .imagefiles import FORMATS, Cleaned, ImageError, Limits
from .models import Author, Image, Post

CONTENT_TYPES = {ext: content_type for ext, content_type in FORMATS.values()}
NAME = re.compile(r"[0-9a-f]{32}\.(?:jpg|png|gif|webp)")
#: Where the files are served; a post shows an image through /media/NAME.
MEDIA_PATH = "/media/"
_REFERENCE = re.compile(r"/media/([0-9a-f]{32}\.(?:jpg|png|gif|webp))")

#: Uploads are read by the serving user and its group (Apache's, when the
#: files are served by Apache directly), by no one else.
FOLDER_MODE = 0o750
FILE_MODE = 0o640


def upload_folder(app: Flask | None = None) -> Path:
    """Return the folder that holds the uploaded files."""
    app = app or current_app
    configured = app.config.get("UPLOAD_FOLDER")
    return Path(configured or Path(app.instance_path) / "uploads")


def limits(app: Flask | None = None) -> Limits:
    """Return how much decoding an image may cost, from the configuration."""
    config = (app or current_app).config
    return Limits(pixels=config["MAX_IMAGE_PIXELS"], frames=config["MAX_IMAGE_FRAMES"])


def clean(data: bytes) -> Cleaned:
    """Check ``data`` and return it upright, without metadata."""
    return imagefiles.clean(data, limits())


def write_file(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write the image file at ``path`` with ``data``, whole or not at all.

    A file is never written over (however unlikely a repeated random name is)
    unless ``replace`` says so; then the old file is swapped for the new one at
    once, so a reader gets one or the other.
    """
    path.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    target = path.with_name(f".{path.name}.{secrets.token_hex(8)}") if replace else path
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
        if replace:
            os.replace(target, path)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def store(data: bytes, original_name: str, author: Author | None) -> Image:
    """Check an uploaded image and store it upright, without metadata.

    All the slow work (decoding, cleaning, writing the file) happens here,
    before the write lock; :func:`commit_upload` adds the row.

    :raise ImageError: when it is not stored; then no file and no row exist.
    """
    cleaned = clean(data)
    extension, content_type = FORMATS[cleaned.format]
    name = f"{secrets.token_hex(16)}.{extension}"
    write_file(upload_folder() / name, cleaned.data)
    return Image(
        name=name,
        original_name=original_name,
        content_type=content_type,
        size=len(cleaned.data),
        width=cleaned.width,
        height=cleaned.height,
        metadata_stripped=True,
        author=author,
    )


def strip_stored_images(app: Flask | None = None) -> int:
    """Strip the metadata of images stored before uploads were stripped.

    Run by ``init-db``. Each file is rewritten once (a JPEG loses a little
    each time it is encoded), and its row then says so. A missing or damaged
    file is logged and left as it is. Returns how many files were rewritten.
    """
    app = app or current_app
    engine = get_engine(app)
    with engine.begin() as connection:
        rows = connection.execute(
            select(Image.id, Image.name).where(Image.metadata_stripped.is_(False))
        ).all()
    stripped = 0
    for image_id, name in rows:
        path = upload_folder(app) / name
        try:
            if not NAME.fullmatch(name):
                raise ImageError("its name is not one this site gives")
            cleaned = imagefiles.clean(path.read_bytes(), limits(app))
            if FORMATS[cleaned.format][0] != name.rsplit(".", 1)[1]:
                raise ImageError("its content is not what its name says")
        except (OSError, ImageError) as error:
            reason = error.message if isinstance(error, ImageError) else error
            app.logger.warning("Image %s left as it is: %s", name, reason)
            continue
        write_file(path, cleaned.data, replace=True)
        # One short write transaction per file, after the slow work.
        with engine.begin() as connection:
            updated = connection.execute(
                update(Image)
                .where(Image.id == image_id)
                .values(
                    size=len(cleaned.data),
                    width=cleaned.width,
                    height=cleaned.height,
                    metadata_stripped=True,
                )
            ).rowcount
        if not updated:
            # Deleted meanwhile: the file goes too.
            path.unlink(missing_ok=True)
        stripped += 1
    if stripped:
        app.logger.info("Stripped the metadata of %d stored images.", stripped)
    return stripped


def commit_upload(image: Image) -> None:
    """Add the new image's row, removing its file if that fails."""
    try:
        with write_transaction():
            session.add(image)
    except BaseException:
        (upload_folder() / image.name).unlink(missing_ok=True)
        raise


def usage() -> dict[str, list[tuple[int, str]]]:
    """Map each referenced image name to the posts (id, title) that show it."""
    used: dict[str, list[tuple[int, str]]] = {}
    rows = session.execute(select(Post.id, Post.title, Post.body, Post.summary))
    for post_id, title, body, summary in rows:
        names = set(_REFERENCE.findall(body)) | set(_REFERENCE.findall(summary))
        for name in names:
            used.setdefault(name, []).append((post_id, title))
    return used


def shown_in(name: str) -> list[tuple[int, str]]:
    """Return the posts (id, title) whose text shows the image ``name``."""
    reference = f"%{MEDIA_PATH}{name}%"
    return list(
        session.execute(
            select(Post.id, Post.title).where(
                or_(Post.body.like(reference), Post.summary.like(reference))
            )
        )
    )

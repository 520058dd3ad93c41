"""Image storage: the uploaded files, their rows, and which posts show them.

The database holds the bytes of every stored file (``image_files``): the
original and each variant. Each host's upload folder is a cache of them,
written when an image is stored through that host and filled on a miss by
:func:`cached_file`, so several hosts serve one blog with no shared folder.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import delete, insert, or_, select, union_all, update

from ..db import get_engine, session, write_transaction
from . import imagefiles, pictures, variants
from .imagefiles import FORMATS, Cleaned, ImageError, Limits
from .models import Author, Image, ImageFile, ImageVariant, Post
from .pictures import MEDIA_PATH

#: The content types of every file served from the upload folder, by extension.
CONTENT_TYPES = {
    variants.EXTENSIONS[kind]: content_type
    for kind, content_type in variants.CONTENT_TYPES.items()
}
#: The name of an uploaded image (the original).
NAME = re.compile(r"[0-9a-f]{32}\.(?:jpg|png|gif|webp)")
#: The name of any file served: an original, or one of its variants.
FILE_NAME = re.compile(
    r"[0-9a-f]{32}(?:-\d{1,5}-[0-9a-f]{16})?\.(?:jpg|png|gif|webp|avif)"
)
_REFERENCE = re.compile(r"/media/([0-9a-f]{32}\.(?:jpg|png|gif|webp))")
_SOURCE = re.compile(r"/media/([0-9a-f]{32}\.(?:jpg|png|gif|webp))")

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


def store(
    data: bytes,
    original_name: str,
    author: Author | None,
    *,
    alt: str = "",
    decorative: bool = False,
) -> Image:
    """Check an uploaded image and store it upright, without metadata, with
    its variants (smaller widths, WebP, AVIF).

    All the slow work (decoding, cleaning, resizing, writing the files)
    happens here, before the write lock; :func:`commit_upload` adds the rows.

    :raise ImageError: when it is not stored; then no file and no row exist.
    """
    cleaned = clean(data)
    extension, content_type = FORMATS[cleaned.format]
    name = f"{secrets.token_hex(16)}.{extension}"
    rows, files = write_with_variants(name, cleaned)
    return Image(
        name=name,
        original_name=original_name,
        content_type=content_type,
        size=len(cleaned.data),
        width=cleaned.width,
        height=cleaned.height,
        metadata_stripped=True,
        alt=alt,
        decorative=decorative,
        variants_version=variants.VARIANTS_VERSION,
        variants=rows,
        files=files,
        author=author,
    )


def write_with_variants(
    name: str, cleaned: Cleaned, *, replace: bool = False
) -> tuple[list[ImageVariant], list[ImageFile]]:
    """Write the cleaned image as ``name`` and its variants beside it.

    Slow work (resizing, encoding), for before the write lock. Either every
    file is written or none is left. Returns the variants' rows and the
    files' rows (their bytes, for the database), to add with the image.

    :param replace: write over an existing file of that name (an import).
    """
    try:
        made = variants.make_variants(cleaned.data, cleaned.format)
    except Exception:
        # The image itself decoded and is stored; without variants it is
        # shown as it is, which is better than refusing it.
        current_app.logger.exception("The variants of %s could not be made", name)
        made = []
    folder = upload_folder()
    written: list[Path] = []
    try:
        write_file(folder / name, cleaned.data, replace=replace)
        written.append(folder / name)
        for variant in made:
            path = folder / variant.file_name(name)
            # Named by their content: one already there holds these bytes.
            write_file(path, variant.data, replace=True)
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    files = [ImageFile(name=name, data=cleaned.data)] + [
        ImageFile(name=variant.file_name(name), data=variant.data) for variant in made
    ]
    return [_variant_row(name, variant) for variant in made], files


def _variant_row(image_name: str, variant: variants.Variant) -> ImageVariant:
    """Return the row of ``variant`` of the image ``image_name``."""
    return ImageVariant(
        name=variant.file_name(image_name),
        content_type=variant.content_type,
        size=len(variant.data),
        width=variant.width,
        height=variant.height,
    )


def file_names(image: Image) -> list[str]:
    """Return the names of the files of ``image``: the original and its variants."""
    return [image.name] + [variant.name for variant in image.variants]


def remove_files(names: list[str], app: Flask | None = None) -> None:
    """Remove the files ``names`` from the upload folder, if they are there."""
    folder = upload_folder(app)
    for name in names:
        (folder / name).unlink(missing_ok=True)


def cached_file(name: str, app: Flask | None = None) -> Path | None:
    """Return the path of the stored file ``name`` in this host's upload folder.

    A file missing there (stored through another host, or cleaned away) is
    written from the database first: under a temporary name, then renamed,
    so a reader never sees part of it, and two requests filling it at once
    each put the same whole file in place. None when no such file is stored.
    """
    if not FILE_NAME.fullmatch(name):
        return None
    path = upload_folder(app) / name
    if path.is_file():
        return path
    with get_engine(app).connect() as connection:
        data = connection.scalar(select(ImageFile.data).where(ImageFile.name == name))
    if data is None:
        return None
    write_file(path, data, replace=True)
    return path


def stored_bytes(name: str, app: Flask | None = None) -> bytes:
    """Return the bytes of the stored file ``name``: the database's, else the
    upload folder's (a file not yet moved into the database).

    :raise OSError: when neither has it.
    """
    with get_engine(app).connect() as connection:
        data = connection.scalar(select(ImageFile.data).where(ImageFile.name == name))
    if data is not None:
        return data
    return (upload_folder(app) / name).read_bytes()


#: How much :func:`store_files_in_database` writes per transaction: a few
#: files, so that no write waits long behind it.
BATCH_BYTES = 8 * 1024 * 1024


def store_files_in_database(app: Flask | None = None) -> int:
    """Copy the stored files the database does not hold yet from the upload folder.

    Run by ``init-db`` and ``flask process-images``: files uploaded before
    the database held them. Idempotent, and done in short transactions of
    about :data:`BATCH_BYTES` each, after the files are read. A missing file
    is logged and left out. Returns how many files were copied.
    """
    app = app or current_app
    engine = get_engine(app)
    held = select(ImageFile.name)
    wanted = union_all(
        select(Image.id, Image.name).where(Image.name.not_in(held)),
        select(ImageVariant.image_id, ImageVariant.name).where(
            ImageVariant.name.not_in(held)
        ),
    )
    with engine.connect() as connection:
        rows = connection.execute(wanted).all()
    folder = upload_folder(app)
    batch: list[tuple[int, str, bytes]] = []
    size = copied = 0
    for index, (image_id, name) in enumerate(rows):
        try:
            if not FILE_NAME.fullmatch(name):
                raise ImageError("its name is not one this site gives")
            data = (folder / name).read_bytes()
        except (OSError, ImageError) as error:
            # A file already gone from the folder before this version (the
            # site shows it broken already): noted, not warned about on
            # every run of init-db.
            reason = error.message if isinstance(error, ImageError) else error
            app.logger.info(
                "Image file %s not stored in the database: %s", name, reason
            )
        else:
            batch.append((image_id, name, data))
            size += len(data)
        if batch and (size >= BATCH_BYTES or index == len(rows) - 1):
            copied += _insert_files(engine, batch)
            batch, size = [], 0
    if copied:
        app.logger.info("Stored %d image files in the database.", copied)
    return copied


def _insert_files(engine, batch: list[tuple[int, str, bytes]]) -> int:
    """Insert the files of ``batch`` that are still wanted; return how many."""
    names = [name for _, name, _ in batch]
    with engine.begin() as connection:
        # Under the write lock: an image deleted, or a file stored by another
        # process, since the list was read is left alone.
        held = set(
            connection.scalars(select(ImageFile.name).where(ImageFile.name.in_(names)))
        )
        alive = set(
            connection.scalars(select(Image.name).where(Image.name.in_(names)))
        ) | set(
            connection.scalars(
                select(ImageVariant.name).where(ImageVariant.name.in_(names))
            )
        )
        rows = [
            {"image_id": image_id, "name": name, "data": data}
            for image_id, name, data in batch
            if name in alive and name not in held
        ]
        if rows:
            connection.execute(insert(ImageFile), rows)
    return len(rows)


def prune_cache(app: Flask | None = None) -> int:
    """Remove from this host's upload folder the files no stored image has.

    Another host's deletion removes the rows, not this host's cached copy;
    ``flask process-images`` calls this. A file the database holds no image
    for at all is removed; a file of an upload still in progress has no row
    yet, and is simply cached again from the database when asked for.
    Returns how many files were removed.
    """
    app = app or current_app
    folder = upload_folder(app)
    if not folder.is_dir():
        return 0
    with get_engine(app).connect() as connection:
        known = set(connection.scalars(select(Image.name)))
        known |= set(connection.scalars(select(ImageVariant.name)))
    removed = 0
    for path in folder.iterdir():
        if FILE_NAME.fullmatch(path.name) and path.name not in known:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def make_stored_variants(app: Flask | None = None, *, again: bool = False) -> list[str]:
    """Make the variants of stored images that have none, or older ones.

    Run by ``init-db`` (after :func:`strip_stored_images`) and by
    ``flask process-images``; ``again`` makes every image's variants anew.
    Each image is resized before a short write transaction of its own that
    swaps its variant rows; the old variant files go after it. A missing or
    damaged file is logged and left as it is. Returns the names of the images
    whose variants were made, so that the posts showing them are rendered
    again.
    """
    app = app or current_app
    engine = get_engine(app)
    query = select(Image.id, Image.name).where(Image.metadata_stripped.is_(True))
    if not again:
        query = query.where(Image.variants_version < variants.VARIANTS_VERSION)
    with engine.begin() as connection:
        rows = connection.execute(query).all()
    folder = upload_folder(app)
    done = []
    for image_id, name in rows:
        try:
            if not NAME.fullmatch(name):
                raise ImageError("its name is not one this site gives")
            cleaned = imagefiles.clean(stored_bytes(name, app), limits(app))
            if FORMATS[cleaned.format][0] != name.rsplit(".", 1)[1]:
                raise ImageError("its content is not what its name says")
            made = variants.make_variants(cleaned.data, cleaned.format)
        except (OSError, ImageError) as error:
            reason = error.message if isinstance(error, ImageError) else error
            app.logger.warning("Image %s left without variants: %s", name, reason)
            continue
        new_rows = [_variant_row(name, variant) for variant in made]
        for row, variant in zip(new_rows, made, strict=True):
            if not (folder / row.name).exists():
                write_file(folder / row.name, variant.data)
        keep = {row.name for row in new_rows}
        with engine.begin() as connection:
            old = set(
                connection.scalars(
                    select(ImageVariant.name).where(ImageVariant.image_id == image_id)
                )
            )
            updated = connection.execute(
                update(Image)
                .where(Image.id == image_id)
                .values(
                    width=cleaned.width,
                    height=cleaned.height,
                    variants_version=variants.VARIANTS_VERSION,
                )
            ).rowcount
            connection.execute(
                delete(ImageVariant).where(ImageVariant.image_id == image_id)
            )
            connection.execute(
                delete(ImageFile).where(
                    ImageFile.image_id == image_id, ImageFile.name != name
                )
            )
            if updated:
                for row, variant in zip(new_rows, made, strict=True):
                    connection.execute(
                        insert(ImageVariant).values(
                            image_id=image_id,
                            name=row.name,
                            content_type=row.content_type,
                            size=row.size,
                            width=row.width,
                            height=row.height,
                        )
                    )
                    connection.execute(
                        insert(ImageFile).values(
                            image_id=image_id, name=row.name, data=variant.data
                        )
                    )
        # Deleted meanwhile: every file of it goes; otherwise the old ones.
        remove_files(sorted(old - keep if updated else old | keep), app)
        if updated:
            done.append(name)
    if done:
        app.logger.info("Made the variants of %d stored images.", len(done))
    return done


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
            cleaned = imagefiles.clean(stored_bytes(name, app), limits(app))
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
            connection.execute(
                update(ImageFile)
                .where(ImageFile.name == name)
                .values(data=cleaned.data)
            )
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
        remove_files(file_names(image))
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


def decorative_sources(sources: list[str]) -> set[str]:
    """Return which of the image addresses ``sources`` show decorative images.

    An address is decorative when it is /media/NAME of a library image its
    author marked so: it rightly has no alt text.
    """
    names = {
        found[1]: source for source in sources if (found := _SOURCE.fullmatch(source))
    }
    if not names:
        return set()
    marked = session.scalars(
        select(Image.name).where(Image.name.in_(names), Image.decorative.is_(True))
    )
    return {names[name] for name in marked}


#: The widest file link previews are given: larger ones only cost their
#: crawlers time (OpenGraph asks for 1200 px or so).
SHARE_WIDTH = 1600


@dataclass(frozen=True)
class ShareImage:
    """The file link previews show for a post, with its size and description."""

    name: str
    content_type: str
    width: int
    height: int
    alt: str


def share_image(post: Post) -> ShareImage | None:
    """Return the image link previews show for ``post``, or None if it has none.

    The one the author named, else the first library image of its body; the
    widest file of its own format up to :data:`SHARE_WIDTH` (crawlers do not
    all read WebP or AVIF).
    """
    name = post.share_image or next(iter(pictures.sources(post.body_html)), None)
    picture = pictures.library(session, [name]).get(name) if name else None
    if picture is None:
        return None
    chosen = ShareImage(
        picture.name, picture.content_type, picture.width, picture.height, picture.alt
    )
    for variant, width in picture.sources.get(picture.content_type, []):
        if width <= SHARE_WIDTH < picture.width:
            height = round(picture.height * width / picture.width)
            chosen = ShareImage(
                variant, picture.content_type, width, height, picture.alt
            )
    return chosen

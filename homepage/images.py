"""Uploaded images: checking, storing, serving and deleting them."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from sqlalchemy import or_, select, update
from sqlalchemy.orm import joinedload
from werkzeug.datastructures import FileStorage

from . import admin, imagefiles, posts
from .access import find_post, require_may_change
from .auth import current_author
from .db import get_engine, session, write_transaction
from .imagefiles import FORMATS, Cleaned, ImageError, Limits
from .models import Image, Post

bp = Blueprint("images", __name__)
#: The uploaded files, served to everyone.
media_bp = Blueprint("media", __name__)

CONTENT_TYPES = {ext: content_type for ext, content_type in FORMATS.values()}
NAME = re.compile(r"[0-9a-f]{32}\.(?:jpg|png|gif|webp)")
#: How a post refers to an image: the Markdown holds /media/NAME.
_REFERENCE = re.compile(r"/media/([0-9a-f]{32}\.(?:jpg|png|gif|webp))")
MAX_ALT = 200

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


def display_name(filename: str | None) -> str:
    """Return the uploaded file's name for display; refuse names with a path.

    The name is never used to store the file; a browser sends only a base name,
    so a path here means a crafted request, which is refused outright.
    """
    if not filename:
        raise ImageError("Choose an image file to upload.")
    if (
        "/" in filename
        or "\\" in filename
        or filename in {".", ".."}
        or any(ord(char) < 32 or ord(char) == 127 for char in filename)
    ):
        raise ImageError("The file name must be a plain name, not a path.")
    return filename[:200]


def read_limited(file: FileStorage) -> bytes:
    """Read the upload, refusing it once it passes ``MAX_IMAGE_BYTES``."""
    limit = current_app.config["MAX_IMAGE_BYTES"]
    data = file.stream.read(limit + 1)
    if len(data) > limit:
        raise ImageError(
            f"The image is too large: keep it under {limit / 1_000_000:g} MB.", 413
        )
    if not data:
        raise ImageError("The file is empty.")
    return data


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


def store(file: FileStorage | None) -> Image:
    """Check an uploaded file and store it upright, without metadata.

    All the slow work (reading, decoding, cleaning) happens here, before the
    write lock; :func:`commit_upload` adds the row.

    :raise ImageError: when it is not stored; then no file and no row exist.
    """
    if file is None:
        raise ImageError("Choose an image file to upload.")
    original = display_name(file.filename)
    data = read_limited(file)
    # Decoding and encoding are the slow part; they are done before the
    # session is touched.
    cleaned = clean(data)
    extension, content_type = FORMATS[cleaned.format]
    name = f"{secrets.token_hex(16)}.{extension}"
    write_file(upload_folder() / name, cleaned.data)
    image = Image(
        name=name,
        original_name=original,
        content_type=content_type,
        size=len(cleaned.data),
        width=cleaned.width,
        height=cleaned.height,
        metadata_stripped=True,
        author=current_author(),
    )
    return image


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


def markdown_for(image: Image, alt: str) -> str:
    """Return the Markdown that shows ``image`` with ``alt`` text."""
    alt = " ".join(alt.split())[:MAX_ALT]
    # Escape what would end or nest the link text.
    alt = re.sub(r"([\\\[\]])", r"\\\1", alt)
    return f"![{alt}]({url_for('media.serve', name=image.name)})"


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
    reference = f"%{url_for('media.serve', name=name)}%"
    return list(
        session.execute(
            select(Post.id, Post.title).where(
                or_(Post.body.like(reference), Post.summary.like(reference))
            )
        )
    )


def get_image(image_id: int) -> Image:
    """Return the image with ``image_id`` if the logged-in author may manage it.

    :raise 404: when there is none.
    :raise 403: when someone else uploaded it and the author's role allows
        only their own.
    """
    image = session.get(Image, image_id)
    if image is None:
        abort(404)
    author = current_author()
    if author is None or not author.may_change(image.author_id):
        abort(403)
    return image


# -- views ---------------------------------------------------------------------


@media_bp.get("/media/<name>")
def serve(name: str):
    """Serve an uploaded image."""
    if not NAME.fullmatch(name):
        abort(404)
    extension = name.rsplit(".", 1)[1]
    response = send_from_directory(
        upload_folder(),
        name,
        mimetype=CONTENT_TYPES[extension],
        max_age=365 * 24 * 3600,
    )
    # A name is never reused for other content, so caches may keep it forever.
    response.cache_control.public = True
    response.cache_control.immutable = True
    # Even if a browser were talked into treating it as a document, nothing
    # in it could run.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self'; sandbox"
    )
    return response


def _render_index(error: str = "", status: int = 200, alt: str = ""):
    """Render the images the author may manage, with an upload error if any."""
    query = select(Image).options(joinedload(Image.author))
    author = current_author()
    assert author is not None  # the views that call this require a login
    if not author.sees_all:
        query = query.where(Image.author_id == author.id)
    images = session.scalars(
        query.order_by(Image.created_at.desc(), Image.id.desc())
    ).all()
    # An author's image may be shown in a colleague's post; its title is
    # listed, but linked only when the author may open that post.
    editable = None
    if not author.sees_all:
        editable = set(
            session.scalars(select(Post.id).where(Post.author_id == author.id))
        )
    return render_template(
        "admin/images.html",
        images=images,
        used=usage(),
        editable=editable,
        error=error,
        alt=alt,
        markdown_for=markdown_for,
    ), status


@bp.get("/images/")
def index():
    """List the author's uploaded images, which posts use them, and an upload form."""
    return _render_index()


@bp.post("/images/")
def upload():
    """Upload an image from the images page."""
    alt = request.form.get("alt", "")
    try:
        image = store(request.files.get("image"))
    except ImageError as error:
        return _render_index(error.message, error.status, alt)
    commit_upload(image)
    flash(
        f"Uploaded {image.original_name}. Copy its Markdown into a post: "
        f"{markdown_for(image, alt)}"
    )
    return redirect(url_for("admin.images.index"))


@bp.post("/posts/new/image")
@bp.post("/posts/<int:post_id>/image")
def upload_into_post(post_id: int | None = None):
    """Upload an image from the post form and add it to the body, unsaved."""
    form = posts.PostForm.from_request(request.form)
    post = None
    if post_id is not None:
        post = find_post(post_id)
        if post is None:
            # Nothing is stored for a post that is gone; the text stays.
            return admin.render_deleted(form)
        require_may_change(post)
    alt = request.form.get("image_alt", "")
    try:
        image = store(request.files.get("image"))
    except ImageError as error:
        return render_template(
            "admin/edit.html",
            form=form,
            post=post,
            image_error=error.message,
            image_alt=alt,
        ), error.status
    commit_upload(image)
    snippet = markdown_for(image, alt)
    body = form.body.rstrip()
    form.body = f"{body}\n\n{snippet}\n" if body else f"{snippet}\n"
    return render_template(
        "admin/edit.html",
        form=form,
        post=post,
        image_notice=f"The image was uploaded and added to the end of the body as "
        f"{snippet}. Save the post to keep it there.",
    )


@bp.post("/images/<int:image_id>/delete")
def delete(image_id: int):
    """Delete an image that no post shows."""
    with write_transaction():
        image = get_image(image_id)
        label = image.original_name or image.name
        # Under the lock, so no save can start showing it meanwhile.
        users = shown_in(image.name)
        if not users:
            name = image.name
            session.delete(image)
    if users:
        titles = ", ".join(f"“{title}”" for _, title in users)
        return _render_index(
            f"{label} is still shown in {titles}; remove it from there first.", 400
        )
    # The file goes only after the row: a failed commit leaves both in place.
    (upload_folder() / name).unlink(missing_ok=True)
    flash(f"Deleted {label}.")
    return redirect(url_for("admin.images.index"))

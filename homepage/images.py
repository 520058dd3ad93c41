"""Uploaded images: checking, storing, serving and deleting them."""

from __future__ import annotations

import io
import re
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

import PIL.Image
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload
from werkzeug.datastructures import FileStorage

from . import admin, posts
from .auth import current_author, login_required
from .db import session, write_transaction
from .models import Image, Post

bp = Blueprint("images", __name__)

#: The formats accepted, as Pillow names them, with the extension and content
#: type they are stored and served with. Only these decoders are ever tried, so
#: an upload cannot reach Pillow's rarer (and riskier) file parsers.
FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    # Pillow reads many camera and phone JPEGs as MPO (several pictures).
    "MPO": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
}
#: The decoders tried; Pillow's JPEG decoder is the one that yields MPO.
_DECODERS = ["JPEG", "PNG", "GIF", "WEBP"]
CONTENT_TYPES = {ext: content_type for ext, content_type in FORMATS.values()}
NAME = re.compile(r"[0-9a-f]{32}\.(?:jpg|png|gif|webp)")
#: How a post refers to an image: the Markdown holds /media/NAME.
_REFERENCE = re.compile(r"/media/([0-9a-f]{32}\.(?:jpg|png|gif|webp))")
MAX_ALT = 200


class ImageError(Exception):
    """An upload that was refused, with the message the author sees."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Decoded:
    """What decoding an upload revealed."""

    format: str
    width: int
    height: int


def upload_folder() -> Path:
    """Return the folder that holds the uploaded files."""
    configured = current_app.config.get("UPLOAD_FOLDER")
    return Path(configured or Path(current_app.instance_path) / "uploads")


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


def decode(data: bytes) -> Decoded:
    """Decode every frame of ``data`` to prove it is a whole, sane image."""
    limit = current_app.config["MAX_IMAGE_PIXELS"]
    not_an_image = ImageError(
        "This file is not an image this site accepts "
        "(JPEG, PNG, GIF or WebP), or it is damaged."
    )
    try:
        with warnings.catch_warnings():
            # Pillow only warns about large images below twice its own limit.
            warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(io.BytesIO(data), formats=_DECODERS) as image:
                decoded = Decoded(image.format, *image.size)
                frames = getattr(image, "n_frames", 1)
                # The header's size is checked before any pixel is decoded, so
                # a small file claiming a huge picture costs nothing.
                if decoded.width * decoded.height * frames > limit:
                    raise ImageError(
                        f"The image has too many pixels: at most {limit:,} "
                        "(width × height, all frames together).",
                    )
                image.verify()
            # verify() checks structure and checksums but leaves the image
            # unusable and misses truncated pixel data; decoding every frame
            # catches that.
            with PIL.Image.open(io.BytesIO(data), formats=_DECODERS) as image:
                for frame in range(frames):
                    image.seek(frame)
                    image.load()
    except ImageError:
        raise
    except PIL.Image.DecompressionBombError as exc:
        raise ImageError("The image has too many pixels.") from exc
    except Exception as exc:
        # Damaged files make decoders raise almost anything (OSError,
        # SyntaxError, ValueError, struct.error ...); each means "not an image
        # we can show", never a server error.
        raise not_an_image from exc
    if decoded.format not in FORMATS:
        raise not_an_image
    return decoded


def store(file: FileStorage | None) -> Image:
    """Check an uploaded file and store it; :func:`commit_upload` adds its row.

    All the slow work (reading, decoding) happens here, before the write lock.

    :raise ImageError: when it is not stored; then no file and no row exist.
    """
    if file is None:
        raise ImageError("Choose an image file to upload.")
    original = display_name(file.filename)
    data = read_limited(file)
    decoded = decode(data)
    extension, content_type = FORMATS[decoded.format]
    folder = upload_folder()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{extension}"
    # "x": never overwrite, however unlikely a repeated random name is.
    with open(folder / name, "xb") as out:
        out.write(data)
    image = Image(
        name=name,
        original_name=original,
        content_type=content_type,
        size=len(data),
        width=decoded.width,
        height=decoded.height,
        author=current_author(),
    )
    return image


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
    return f"![{alt}]({url_for('images.media', name=image.name)})"


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
    reference = f"%{url_for('images.media', name=name)}%"
    return list(
        session.execute(
            select(Post.id, Post.title).where(
                or_(Post.body.like(reference), Post.summary.like(reference))
            )
        )
    )


def get_image(image_id: int) -> Image:
    """Return the image with ``image_id``.

    :raise 404: when there is none.
    """
    image = session.get(Image, image_id)
    if image is None:
        abort(404)
    return image


# -- views ---------------------------------------------------------------------


@bp.get("/media/<name>")
def media(name: str):
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
    """Render the list of images, with an upload error if there is one."""
    images = session.scalars(
        select(Image)
        .options(joinedload(Image.author))
        .order_by(Image.created_at.desc(), Image.id.desc())
    ).all()
    return render_template(
        "admin/images.html",
        images=images,
        used=usage(),
        error=error,
        alt=alt,
        markdown_for=markdown_for,
    ), status


@bp.get("/admin/images/")
@login_required
def index():
    """List the uploaded images, which posts use them, and an upload form."""
    return _render_index()


@bp.post("/admin/images/")
@login_required
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
    return redirect(url_for("images.index"))


@bp.post("/admin/posts/new/image")
@bp.post("/admin/posts/<int:post_id>/image")
@login_required
def upload_into_post(post_id: int | None = None):
    """Upload an image from the post form and add it to the body, unsaved."""
    form = posts.PostForm.from_request(request.form)
    post = None
    if post_id is not None:
        post = admin.find_post(post_id)
        if post is None:
            # Nothing is stored for a post that is gone; the text stays.
            return admin.render_deleted(form)
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


@bp.post("/admin/images/<int:image_id>/delete")
@login_required
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
    return redirect(url_for("images.index"))

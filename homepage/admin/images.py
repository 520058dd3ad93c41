"""The images pages: uploading, listing and deleting the authors' images."""

from __future__ import annotations

import re

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.datastructures import FileStorage

from ..core import images as storage
from ..core.imagefiles import ImageError
from ..core.images import commit_upload, shown_in, upload_folder, usage
from ..core.models import Image, Post
from ..db import session, write_transaction
from . import posts as admin
from .access import find_post, require_may_change
from .auth import current_author
from .forms import PostForm

bp = Blueprint("images", __name__)

MAX_ALT = 200


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


def store(file: FileStorage | None) -> Image:
    """Check an uploaded file and store it for the logged-in author.

    :raise ImageError: when it is not stored; then no file and no row exist.
    """
    if file is None:
        raise ImageError("Choose an image file to upload.")
    original = display_name(file.filename)
    return storage.store(read_limited(file), original, current_author())


def markdown_for(image: Image, alt: str) -> str:
    """Return the Markdown that shows ``image`` with ``alt`` text."""
    alt = " ".join(alt.split())[:MAX_ALT]
    # Escape what would end or nest the link text.
    alt = re.sub(r"([\\\[\]])", r"\\\1", alt)
    return f"![{alt}]({url_for('media.serve', name=image.name)})"


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
    post = None
    if post_id is not None:
        post = find_post(post_id)
        if post is None:
            # Nothing is stored for a post that is gone; the text stays.
            return admin.render_deleted(PostForm())
        require_may_change(post)
    form = PostForm(post)
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
    body = form.body.data.rstrip()
    form.body.data = f"{body}\n\n{snippet}\n" if body else f"{snippet}\n"
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

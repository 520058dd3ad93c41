"""The images pages: uploading, listing and deleting the authors' images."""

from __future__ import annotations

import re

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
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
from ..core.images import commit_upload, shown_in, usage
from ..core.models import Image, Post
from ..db import session, write_transaction
from . import posts as admin
from .access import find_post, require_may_change
from .auth import current_author
from .forms import ImageDescriptionForm, ImageUploadForm, PostForm, PostImageForm

bp = Blueprint("images", __name__)

MAX_ALT = 200


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


def store(form: ImageUploadForm) -> Image | None:
    """Check the form's image and store it for the logged-in author.

    :return: the image, or None when it was refused; then the form's image
        field says why, and no file and no row exist.
    """
    if not form.validate():
        return None
    file = form.image.data
    # The name is only shown (as the image's original name), never used to
    # store the file.
    original = file.filename[:200]
    try:
        return storage.store(
            read_limited(file),
            original,
            current_author(),
            alt=" ".join(form.alt.data.split())[:MAX_ALT],
            decorative=form.decorative.data,
        )
    except ImageError as error:
        form.refuse_image(error.message, error.status)
        return None


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


def _render_index(
    form: ImageUploadForm | None = None, error: str = "", status: int = 200
):
    """Render the images the author may manage, the upload form and an error."""
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
        form=form or ImageUploadForm(blank=True),
        error=error,
        markdown_for=markdown_for,
    ), status


@bp.get("/images/")
def index():
    """List the author's uploaded images, which posts use them, and an upload form."""
    return _render_index()


@bp.post("/images/")
def upload():
    """Upload an image from the images page."""
    form = ImageUploadForm()
    image = store(form)
    if image is None:
        return _render_index(form, status=form.http_status)
    commit_upload(image)
    flash(
        f"Uploaded {image.original_name}. Copy its Markdown into a post: "
        f"{markdown_for(image, form.alt.data)}"
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
    image_form = PostImageForm()
    image = store(image_form)
    if wants_json():
        # static/editor.js, for an image pasted or dropped on the body: it
        # inserts the Markdown at the cursor itself.
        if image is None:
            return jsonify(error=image_form.image.errors[0]), image_form.http_status
        commit_upload(image)
        return jsonify(markdown=markdown_for(image, image_form.alt.data))
    if image is None:
        return render_template(
            "admin/edit.html", form=form, post=post, image_form=image_form
        ), image_form.http_status
    commit_upload(image)
    snippet = markdown_for(image, image_form.alt.data)
    at = cursor_index(form.body.data, form.cursor.data or "")
    form.body.data = insert_block(form.body.data, snippet, at)
    where = "at the cursor" if at is not None else "to the end of the body"
    return render_template(
        "admin/edit.html",
        form=form,
        post=post,
        image_notice=f"The image was uploaded and added {where} as "
        f"{snippet}. Save the post to keep it there.",
    )


def wants_json() -> bool:
    """Tell whether the request comes from a script that reads JSON."""
    return request.accept_mimetypes.best == "application/json"


def cursor_index(text: str, cursor: str) -> int | None:
    """Return where in ``text`` the browser's cursor offset ``cursor`` points.

    static/editor.js sends the body's ``selectionStart``, counted as the
    browser counts: in UTF-16 code units, with each line break as one
    character, though the form sends line breaks as CR LF. None when there is
    no offset (no JavaScript, or the body was never focused) or it is past
    the end.
    """
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 9:
        return None
    remaining = int(cursor)
    index = 0
    while remaining > 0 and index < len(text):
        if text.startswith("\r\n", index):
            index += 2
            remaining -= 1
            continue
        remaining -= 2 if ord(text[index]) > 0xFFFF else 1
        index += 1
    return index if remaining <= 0 else None


def insert_block(text: str, snippet: str, at: int | None) -> str:
    """Return ``text`` with ``snippet`` as a paragraph of its own at ``at``.

    :param at: an index into ``text``; None adds the snippet at the end.
    """
    if at is None:
        body = text.rstrip()
        return f"{body}\n\n{snippet}\n" if body else f"{snippet}\n"
    before, after = text[:at].rstrip(), text[at:].lstrip()
    middle = f"{before}\n\n{snippet}" if before else snippet
    return f"{middle}\n\n{after}" if after else f"{middle}\n"


@bp.post("/images/<int:image_id>/describe")
def describe(image_id: int):
    """Change an image's description and whether it only decorates.

    The description is what the next upload's Markdown carries and link
    previews show (og:image:alt); the posts that show the image keep the alt
    text their Markdown gives it. A decorative image is not flagged in the
    editor for having none.
    """
    form = ImageDescriptionForm()
    alt = " ".join((form.alt.data or "").split())[:MAX_ALT]
    with write_transaction():
        image = get_image(image_id)
        image.alt = alt
        image.decorative = bool(form.decorative.data)
        label = image.original_name or image.name
    flash(f"Saved the description of {label}.")
    return redirect(url_for("admin.images.index"))


@bp.post("/images/<int:image_id>/delete")
def delete(image_id: int):
    """Delete an image that no post shows."""
    with write_transaction():
        image = get_image(image_id)
        label = image.original_name or image.name
        # Under the lock, so no save can start showing it meanwhile.
        users = shown_in(image.name)
        if not users:
            names = storage.file_names(image)
            session.delete(image)
    if users:
        titles = ", ".join(f"“{title}”" for _, title in users)
        return _render_index(
            error=f"{label} is still shown in {titles}; remove it from there first.",
            status=400,
        )
    # The files go only after the rows: a failed commit leaves all in place.
    storage.remove_files(names)
    flash(f"Deleted {label}.")
    return redirect(url_for("admin.images.index"))

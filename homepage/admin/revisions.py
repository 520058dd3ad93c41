"""The pages of earlier versions: comparing one with the current text, restoring it."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from sqlalchemy import select

from ..core import history, posts
from ..core.models import Post, Revision
from ..db import session, write_transaction
from .access import get_post
from .auth import current_author

bp = Blueprint("revisions", __name__, url_prefix="/posts/<int:post_id>")
# The edit page shows the list of versions in every state (editing, preview,
# errors), so the template asks for it rather than every render passing it.
bp.add_app_template_global(history.list_revisions, "post_revisions")


def get_revision(post: Post, number: int) -> Revision:
    """Return version ``number`` of ``post``.

    :raise 404: when there is none.
    """
    revision = session.scalars(
        select(Revision).where(Revision.post_id == post.id, Revision.number == number)
    ).first()
    if revision is None:
        abort(404)
    return revision


@bp.get("/revisions/<int:number>")
def show(post_id: int, number: int):
    """Compare an earlier version with the current text."""
    post = get_post(post_id)
    return _render_show(post, get_revision(post, number))


def _render_show(post: Post, revision: Revision, error: str = "", status: int = 200):
    """Render the comparison of ``revision`` with the current text."""
    number = revision.number
    names = (f"version {number}", "current")
    changes = [
        (label, history.diff(old, new, *names))
        for label, old, new in history.compared(revision, post)
        if old != new
    ]
    return render_template(
        "admin/revision.html",
        post=post,
        revision=revision,
        changes=changes,
        error=error,
    ), status


@bp.post("/revisions/<int:number>/restore")
def restore(post_id: int, number: int):
    """Make an earlier version the current text, keeping the one it replaces."""
    post = get_post(post_id)
    revision = get_revision(post, number)
    fields = posts.PostFields.from_post(post)
    fields.title = revision.title
    fields.body = revision.body
    fields.summary = revision.summary
    fields.tags = revision.tags
    # The slug and status stay as they are: restoring old words should not
    # move or unpublish the post.
    errors = posts.check_post(fields, post)
    if errors:
        # Only possible when the limits were tightened since this version.
        error = "This version cannot be restored: " + " ".join(errors.values())
        return _render_show(post, revision, error, 400)
    with write_transaction():
        post = get_post(post_id)
        # The text comes from the version; everything else from the post as
        # it is now, under the lock, so a change made meanwhile is kept.
        fields.slug, fields.status, fields.kind = post.slug, post.status, post.kind
        fields.publish_at = post.published_at
        posts.save(post, fields, current_author())
    flash(f"Restored version {number}; the text it replaced is kept as a version too.")
    return redirect(url_for("admin.posts.edit", post_id=post.id))

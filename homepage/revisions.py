"""Earlier versions of posts: keeping them on save, comparing and restoring them."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from sqlalchemy import cast, func, select
from sqlalchemy.orm import joinedload
from sqlalchemy.types import LargeBinary

# admin imports this module to keep versions on save; importing the module
# (not its names) lets the two refer to each other.
from . import posts
from .access import get_post
from .auth import current_author
from .db import session, write_transaction
from .models import Author, Post, Revision

bp = Blueprint("revisions", __name__, url_prefix="/posts/<int:post_id>")


def _tags_text(post: Post) -> str:
    """Return the post's tags as the form shows them."""
    return ", ".join(tag.name for tag in post.tags)


def keep(post: Post, form: posts.PostForm) -> Revision | None:
    """Store the version of ``post`` that saving ``form`` is about to replace.

    Nothing is stored when the text would not change (only the status or the
    slug did), so the list holds versions worth going back to.
    """
    previous = (post.title, post.body, post.summary, _tags_text(post))
    new = (form.title, form.body, form.summary, ", ".join(form.tag_names()))
    if previous == new:
        return None
    # Safe without retries: every save runs in a BEGIN IMMEDIATE transaction,
    # so no other writer can insert a revision between this SELECT and the
    # INSERT. The unique constraint turns any mistake into an error, never into
    # two versions with one number.
    number = session.execute(
        select(func.coalesce(func.max(Revision.number), 0) + 1).where(
            Revision.post_id == post.id
        )
    ).scalar_one()
    revision = Revision(
        post_id=post.id,
        number=number,
        title=post.title,
        body=post.body,
        summary=post.summary,
        tags=_tags_text(post),
        created_at=post.updated_at,
        saved_by_id=post.updated_by_id,
        replaced_by=current_author(),
        version=post.version,
    )
    session.add(revision)
    return revision


@dataclass
class Listed:
    """One row of the list of versions on the edit page."""

    number: int
    created_at: datetime
    size: int
    saved_by: str | None


@bp.app_template_global("post_revisions")
def list_revisions(post: Post) -> list[Listed]:
    """Return the post's earlier versions, newest first, without their text."""
    # The edit page shows this list in every state (editing, preview, errors),
    # so the template asks for it rather than every render passing it along.
    rows = session.execute(
        select(
            Revision.number,
            Revision.created_at,
            # Bytes, not characters: what the author's disk and the body limit
            # count.
            func.length(cast(Revision.body, LargeBinary)),
            Author.username,
        )
        .outerjoin(Author, Author.id == Revision.saved_by_id)
        .where(Revision.post_id == post.id)
        .order_by(Revision.number.desc())
    ).all()
    return [
        Listed(number, created_at, size or 0, username)
        for number, created_at, size, username in rows
    ]


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


@dataclass
class DiffLine:
    """One line of a diff: ``kind`` is "add", "remove", "context" or "hunk"."""

    kind: str
    text: str


def diff(old: str, new: str, old_name: str, new_name: str) -> list[DiffLine]:
    """Compare two texts line by line, as a unified diff.

    The lines are returned as data and escaped by the template like any text,
    so a post that contains HTML cannot inject it into the admin page.
    """
    lines = []
    for line in difflib.unified_diff(
        old.splitlines(),
        new.splitlines(),
        fromfile=old_name,
        tofile=new_name,
        lineterm="",
    ):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "remove"
        else:
            kind = "context"
        lines.append(DiffLine(kind, line))
    return lines


@dataclass
class Conflict:
    """How a post changed after an author opened it at ``version``.

    ``version`` is None when the author's form did not say; then nothing is
    known of what changed, and only the current text can be shown.
    """

    post: Post
    version: int | None
    #: (label, diff lines) of each field that changed since ``version``.
    changes: list[tuple[str, list[DiffLine]]]
    #: Who saved text over the author's version, as far as versions tell.
    saved_by: list[str]


def changes_since(post: Post, version: int | None) -> Conflict:
    """Compare ``post`` as it is now with its text at ``version``."""
    if version is None:
        return Conflict(post, None, [], [])
    # Each revision holds the text of the version it was kept at, and the
    # text only changes where a revision was kept: so the text at ``version``
    # is the earliest revision at or after it, or the current one if none.
    later = session.scalars(
        select(Revision)
        .where(Revision.post_id == post.id, Revision.version >= version)
        .options(joinedload(Revision.replaced_by))
        .order_by(Revision.version, Revision.number)
    ).all()
    then = later[0] if later else None
    names = ("when you opened it", "now")
    fields = [
        ("Title", then.title if then else post.title, post.title),
        ("Summary", then.summary if then else post.summary, post.summary),
        ("Tags", then.tags if then else _tags_text(post), _tags_text(post)),
        ("Body", then.body if then else post.body, post.body),
    ]
    changes = [
        (label, diff(old, new, *names)) for label, old, new in fields if old != new
    ]
    saved_by = dict.fromkeys(
        revision.replaced_by.username for revision in later if revision.replaced_by
    )
    return Conflict(post, version, changes, list(saved_by))


@bp.get("/revisions/<int:number>")
def show(post_id: int, number: int):
    """Compare an earlier version with the current text."""
    post = get_post(post_id)
    return _render_show(post, get_revision(post, number))


def _render_show(post: Post, revision: Revision, error: str = "", status: int = 200):
    """Render the comparison of ``revision`` with the current text."""
    number = revision.number
    names = (f"version {number}", "current")
    fields = [
        ("Title", revision.title, post.title),
        ("Summary", revision.summary, post.summary),
        ("Tags", revision.tags, _tags_text(post)),
        ("Body", revision.body, post.body),
    ]
    changes = [
        (label, diff(old, new, *names)) for label, old, new in fields if old != new
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
    form = posts.PostForm.from_post(post)
    form.title = revision.title
    form.body = revision.body
    form.summary = revision.summary
    form.tags = revision.tags
    # The slug and status stay as they are: restoring old words should not
    # move or unpublish the post.
    if not form.validate(post):
        # Only possible when the limits were tightened since this version.
        error = "This version cannot be restored: " + " ".join(form.errors.values())
        return _render_show(post, revision, error, 400)
    with write_transaction():
        post = get_post(post_id)
        # The text comes from the version; everything else from the post as
        # it is now, under the lock, so a change made meanwhile is kept.
        form.slug, form.status, form.kind = post.slug, post.status, post.kind
        form.publish_at = post.published_at
        keep(post, form)
        posts.apply_form(post, form)
        post.updated_by = current_author()
        session.flush()
        posts.delete_orphan_tags()
    flash(f"Restored version {number}; the text it replaced is kept as a version too.")
    return redirect(url_for("admin.posts.edit", post_id=post.id))

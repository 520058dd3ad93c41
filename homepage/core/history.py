"""Earlier versions of posts: keeping them on save, comparing texts, conflicts.

Each save that changes a post's text keeps the text it replaces as a
revision, numbered per post and marked with the post's version, so the text
of any version can be found again.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from ..db import session
from .models import Author, Post, Revision
from .sql import byte_length
from .zone import format_short, zone_name


class NewText(Protocol):
    """The text a save is about to store (posts.PostFields is one)."""

    title: str
    body: str
    summary: str

    def tag_names(self) -> list[str]: ...


def tags_text(post: Post) -> str:
    """Return the post's tags as the form shows them."""
    return ", ".join(tag.name for tag in post.tags)


def keep(post: Post, form: NewText, replaced_by: Author | None) -> Revision | None:
    """Store the version of ``post`` that saving ``form`` is about to replace.

    Nothing is stored when the text would not change (only the status or the
    slug did), so the list holds versions worth going back to.
    """
    previous = (post.title, post.body, post.summary, tags_text(post))
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
        tags=tags_text(post),
        slug=post.slug,
        status=post.status,
        published_at=post.published_at,
        kind=post.kind,
        created_at=post.updated_at,
        saved_by_id=post.updated_by_id,
        replaced_by=replaced_by,
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
            byte_length(Revision.body),
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


def _date_text(moment: datetime | None) -> str:
    return f"{format_short(moment)} ({zone_name()})" if moment else "none"


def compared(then: Revision | None, post: Post) -> list[tuple[str, str, str]]:
    """Return ``(label, then, now)`` for each field of a version and of ``post``.

    :param then: the version, or None for the post as it is.
    The slug, status, publish date and kind come only from versions that
    recorded them; older ones hold the text alone.
    """
    if then is None:
        return []
    fields = [
        ("Title", then.title, post.title),
        ("Summary", then.summary, post.summary),
        ("Tags", then.tags, tags_text(post)),
        ("Body", then.body, post.body),
    ]
    if then.status is not None:
        fields += [
            ("Slug", then.slug or "", post.slug),
            ("Status", then.status, post.status),
            (
                "Publish date",
                _date_text(then.published_at),
                _date_text(post.published_at),
            ),
            ("Kind", then.kind or "", post.kind),
        ]
    return fields


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
    changes = [
        (label, diff(old, new, *names))
        for label, old, new in compared(then, post)
        if old != new
    ]
    saved_by = dict.fromkeys(
        revision.replaced_by.username for revision in later if revision.replaced_by
    )
    return Conflict(post, version, changes, list(saved_by))

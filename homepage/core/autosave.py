"""Autosaved copies of the post form, and forms kept across an expired login.

Neither is a version of a post: keeping one never publishes, never changes a
post and never records a revision. Both are bounded by the post form's own
limits, so nothing stored here is larger than a post could be.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from ..db import session
from .models import KINDS, Autosave, PendingForm, Post, token_hash, utcnow
from .posts import MAX_SLUG, MAX_SUMMARY, MAX_TAGS_FIELD, MAX_TITLE

#: The post form's fields an autosave or a pending form keeps.
FIELDS = ("title", "slug", "body", "summary", "tags", "kind", "published_at")
#: The longest publish date the form's field sends (with seconds), and a margin.
MAX_DATE = 32
#: How long a form sent after the login expired waits for its author.
PENDING_LIFETIME = timedelta(hours=12)
#: How many such forms are kept at most; the oldest go first.
MAX_PENDING = 100


def field_limits() -> dict[str, int]:
    """Return the longest value of each kept field, as the post form allows."""
    return {
        "title": MAX_TITLE,
        "slug": MAX_SLUG,
        "body": current_app.config["MAX_BODY_BYTES"],
        "summary": MAX_SUMMARY,
        "tags": MAX_TAGS_FIELD,
        "kind": max(map(len, KINDS)),
        "published_at": MAX_DATE,
    }


def fields_problem(values: dict[str, str]) -> str | None:
    """Return why ``values`` cannot be kept (too long, not text), or None.

    Only the size is checked: an autosave keeps unfinished text, which the
    post's rules would refuse (an empty title, a slug half typed).
    """
    for name, limit in field_limits().items():
        value = values.get(name, "")
        if not isinstance(value, str):
            return f"The {name} must be text."
        if len(value.encode("utf-8", "surrogatepass")) > limit:
            return f"The {name} is too long to keep: at most {limit:,} bytes."
    if values.get("kind") and values["kind"] not in KINDS:
        return "Choose post or page."
    return None


def pick_fields(values) -> dict[str, str]:
    """Return the kept fields of a mapping of form values, '' for missing ones."""
    return {name: values.get(name, "") for name in FIELDS}


# -- autosaves ---------------------------------------------------------------------


def find_autosave(author_id: int, post_id: int | None) -> Autosave | None:
    """Return the author's autosave of post ``post_id`` (None: a new post)."""
    query = select(Autosave).where(Autosave.author_id == author_id)
    if post_id is None:
        query = query.where(Autosave.post_id.is_(None))
    else:
        query = query.where(Autosave.post_id == post_id)
    return session.scalars(query.order_by(Autosave.id.desc())).first()


def keep_autosave(
    author_id: int, post_id: int | None, values: dict[str, str]
) -> Autosave:
    """Store ``values`` as the author's autosave of ``post_id``; call under the lock."""
    autosave = find_autosave(author_id, post_id)
    if autosave is None:
        autosave = Autosave(author_id=author_id, post_id=post_id)
        session.add(autosave)
    for name in FIELDS:
        setattr(autosave, name, values.get(name, ""))
    autosave.saved_at = utcnow()
    session.flush()
    return autosave


def discard_autosave(author_id: int, post_id: int | None) -> None:
    """Delete the author's autosave of ``post_id``; call under the lock."""
    query = delete(Autosave).where(Autosave.author_id == author_id)
    if post_id is None:
        query = query.where(Autosave.post_id.is_(None))
    else:
        query = query.where(Autosave.post_id == post_id)
    session.execute(query)


def offered(autosave: Autosave | None, post: Post | None) -> bool:
    """Tell whether ``autosave`` is newer than the saved ``post``, so worth offering."""
    if autosave is None:
        return False
    return post is None or autosave.saved_at > post.updated_at


def autosave_fields(autosave: Autosave) -> dict[str, str]:
    """Return the form fields an autosave holds."""
    return {name: getattr(autosave, name) for name in FIELDS}


# -- forms kept across an expired login ---------------------------------------------


def keep_pending(post_id: int | None, values: dict[str, str]) -> str:
    """Keep a form sent after the login expired; return its one-time token.

    Call under the lock. Expired forms go, and beyond :data:`MAX_PENDING`
    the oldest, so no flood of posts fills the database.
    """
    now = utcnow()
    session.execute(delete(PendingForm).where(PendingForm.expires_at <= now))
    keep = select(PendingForm.id).order_by(PendingForm.id.desc()).limit(MAX_PENDING - 1)
    session.execute(delete(PendingForm).where(PendingForm.id.not_in(keep)))
    token = secrets.token_urlsafe(32)
    session.add(
        PendingForm(
            token_hash=token_hash(token),
            post_id=post_id,
            fields=json.dumps(values),
            created_at=now,
            expires_at=now + PENDING_LIFETIME,
        )
    )
    return token


def find_pending(token: str, post_id: int | None) -> PendingForm | None:
    """Return the live pending form of ``token`` for ``post_id``, or None."""
    if not token or len(token) > 100:
        return None
    found = session.scalars(
        select(PendingForm).where(
            PendingForm.token_hash == token_hash(token),
            PendingForm.expires_at > utcnow(),
        )
    ).first()
    if found is None or found.post_id != post_id:
        return None
    return found


def take_pending(token: str, post_id: int | None) -> dict[str, str] | None:
    """Return the fields of the pending form ``token`` and delete it; under the lock."""
    found = find_pending(token, post_id)
    if found is None:
        return None
    values = json.loads(found.fields)
    session.delete(found)
    return pick_fields(values)

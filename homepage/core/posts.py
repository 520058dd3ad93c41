"""Post rules shared by the reader and admin views: validation, slugs, tags, queries."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from slugify import slugify
from sqlalchemy import delete, exists, or_, select

from ..db import session
from . import history, markdown, pictures, zone
from .models import (
    DRAFT,
    KINDS,
    POST,
    PUBLISHED,
    STATUSES,
    Author,
    Image,
    Post,
    SlugRedirect,
    Tag,
    post_tags,
    utcnow,
)

MAX_TITLE = 200
MAX_SLUG = 80
MAX_TAG = 64
MAX_TAGS = 20
#: The tags field may hold MAX_TAGS tags of MAX_TAG characters with their
#: commas and spaces; anything longer is refused before it is split.
MAX_TAGS_FIELD = MAX_TAGS * (MAX_TAG + 2)
MAX_SUMMARY = 2000
#: Tags that would be path segments of their own address.
_DOT_TAGS = frozenset({".", ".."})
_SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# What an <input type="datetime-local"> sends: minutes, or seconds if typed;
# typed by hand (where the field is plain text), a space may stand for the T.
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?")
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
SLUG_TAKEN = "Another post already uses this slug."
_SHARE_IMAGE = re.compile(
    r"(?:(?:https?://[^/]+)?/media/)?([0-9a-f]{32}\.(?:jpg|png|gif|webp))"
)


#: The typed fields whose surrounding spaces go before they are checked; the
#: body and tags keep what was typed (the tags are normalized one by one).
TIDIED = ("title", "slug", "summary", "published_at", "share_image")


@dataclass
class PostFields:
    """A post's fields as typed (in the admin form, a file to import, a version).

    :func:`check_post` checks them and, when they are right, leaves the publish
    date parsed and the Markdown rendered, ready for :func:`save`.
    """

    title: str = ""
    slug: str = ""
    body: str = ""
    summary: str = ""
    tags: str = ""
    status: str = DRAFT
    kind: str = POST
    #: The publish date as typed, in the site's time zone (core.zone), empty
    #: for "when first published".
    published_at: str = ""
    #: The address (/media/NAME) or name of the library image link previews
    #: show; empty for the post's first image.
    share_image: str = ""
    #: ``published_at`` parsed by :func:`prepare`.
    publish_at: datetime | None = None
    #: The body and summary rendered by :func:`prepare`, before any write, so
    #: that rendering never runs while the database's write lock is held.
    body_html: str | None = None
    summary_html: str | None = None

    @classmethod
    def from_post(cls, post: Post) -> PostFields:
        """Fill the fields from a stored post."""
        return cls(
            title=post.title,
            slug=post.slug,
            body=post.body,
            summary=post.summary,
            tags=", ".join(tag.name for tag in post.tags),
            status=post.status,
            kind=post.kind,
            published_at=(
                zone.local(post.published_at).strftime(DATETIME_FORMAT)
                if post.published_at
                else ""
            ),
            share_image=(
                f"{pictures.MEDIA_PATH}{post.share_image}" if post.share_image else ""
            ),
        )

    def tidy(self) -> None:
        """Strip the spaces around the fields in :data:`TIDIED`."""
        for name in TIDIED:
            setattr(self, name, getattr(self, name).strip())

    def tag_names(self) -> list[str]:
        """Return the tags, normalized, without duplicates, in the order typed."""
        return tag_names(self.tags)


def check_post(fields: PostFields, post: Post | None = None) -> dict[str, str]:
    """Check ``fields`` as the text of ``post`` (None: a new post).

    The one validation of a post, for the admin form, a restored version and
    an import. The fields are tidied first; when they are right, the date is
    parsed and the Markdown rendered (see :func:`prepare`).

    :return: one message per wrong field, by field name, in the form's order.
    """
    fields.tidy()
    found = {
        "title": title_problem(fields.title),
        "slug": slug_problem(fields.slug, post),
        "body": body_problem(fields.body),
        "summary": summary_problem(fields.summary),
        "tags": tags_problem(fields.tags),
        "status": status_problem(fields.status),
        "kind": kind_problem(fields.kind),
        "published_at": published_at_problem(fields.published_at),
        "share_image": share_image_problem(fields.share_image),
    }
    errors = {name: message for name, message in found.items() if message}
    prepare(fields, errors)
    return errors


def prepare(fields: PostFields, wrong: Collection[str]) -> None:
    """Parse the publish date and render the Markdown of ``fields``.

    :param wrong: the names of the fields found wrong, which are left alone:
        a body that is too long or too costly is never rendered.
    """
    fields.publish_at = None
    if fields.published_at and "published_at" not in wrong:
        fields.publish_at = parse_datetime(fields.published_at)
    fields.body_html = fields.summary_html = None
    if "body" not in wrong:
        fields.body_html, summary_html = render_text(fields.body, fields.summary)
        if "summary" not in wrong:
            fields.summary_html = summary_html


def render_text(
    body: str, summary: str, executor: pictures.Executor | None = None
) -> tuple[str, str]:
    """Render a post's body and summary as readers see them: ``(body, summary)``.

    The body's headings sit below the post's title (h1 on its page), the
    summary's below the titles of a list of posts (h2). The library's images
    become responsive pictures (core.pictures), the body's first one loaded
    at once, a summary's lazily, as lists show many.

    :param executor: where the images are looked up: the session, or the
        upgrade's connection.
    """
    body_html = markdown.render(body, top=markdown.BODY_TOP)
    if summary:
        summary_html = markdown.render(summary, top=markdown.SUMMARY_TOP, ids=False)
    else:
        summary_html = markdown.first_paragraph(body_html)
    shown = pictures.library(
        session if executor is None else executor,
        pictures.sources(body_html) + pictures.sources(summary_html),
    )
    return (
        pictures.responsive(body_html, shown),
        pictures.responsive(summary_html, shown, first_eager=False),
    )


# Each rule below takes a field as :meth:`PostFields.tidy` leaves it and
# returns what is wrong with it, or None. The admin form's validators call
# them too, so the form and the importer refuse alike.


def title_problem(title: str) -> str | None:
    """Return what is wrong with a post's title, or None."""
    if not title:
        return "Give the post a title."
    if len(title) > MAX_TITLE:
        return f"Keep the title under {MAX_TITLE} characters."
    return None


def slug_problem(slug: str, post: Post | None = None) -> str | None:
    """Return what is wrong with the slug chosen for ``post``, or None.

    An empty slug is fine: one is made from the title.
    """
    if not slug:
        return None
    if not _SLUG_RE.fullmatch(slug) or len(slug) > MAX_SLUG:
        return (
            "Use lower-case letters a-z, digits and single hyphens, "
            f"at most {MAX_SLUG} characters, or leave it empty."
        )
    if slug_taken(slug, post):
        return SLUG_TAKEN
    return None


def body_problem(body: str) -> str | None:
    """Return what is wrong with a post's Markdown body, or None.

    The size is checked before anything reads the Markdown, and the cost of
    rendering it before it is rendered.
    """
    limit = current_app.config["MAX_BODY_BYTES"]
    if not body.strip():
        return "Write something in the body."
    if len(body.encode("utf-8", "surrogatepass")) > limit:
        return f"The body is too long: keep it under {limit:,} bytes."
    return markdown.too_costly(body)


def summary_problem(summary: str) -> str | None:
    """Return what is wrong with a post's summary, or None."""
    if len(summary) > MAX_SUMMARY:
        return f"Keep the summary under {MAX_SUMMARY} characters."
    return None


def tags_problem(tags: str) -> str | None:
    """Return what is wrong with the comma-separated tags field, or None."""
    # Bounded before splitting, so a huge field costs nothing to refuse.
    if len(tags) > MAX_TAGS_FIELD:
        return f"Use at most {MAX_TAGS} tags of at most {MAX_TAG} characters."
    names = tag_names(tags)
    if len(names) > MAX_TAGS:
        return f"Use at most {MAX_TAGS} tags."
    for name in names:
        if problem := tag_problem(name):
            return problem
    return None


def status_problem(status: str) -> str | None:
    """Return what is wrong with a post's status, or None."""
    return None if status in STATUSES else "Choose draft or published."


def kind_problem(kind: str) -> str | None:
    """Return what is wrong with a post's kind, or None."""
    return None if kind in KINDS else "Choose post or page."


def share_image_problem(text: str) -> str | None:
    """Return what is wrong with the share image typed, or None; empty is fine."""
    if not text:
        return None
    name = share_image_name(text)
    if (
        name is None
        or not session.scalars(select(Image.id).where(Image.name == name)).first()
    ):
        return (
            "Give the address of an image of the library, such as "
            f"{pictures.MEDIA_PATH}0123…cdef.jpg, or leave it empty for the "
            "post's first image."
        )
    return None


def share_image_name(text: str) -> str | None:
    """Return the library name in a typed share image (/media/NAME or NAME)."""
    found = _SHARE_IMAGE.fullmatch(text.strip())
    return found[1] if found else None


def published_at_problem(text: str) -> str | None:
    """Return what is wrong with a typed publish date, or None; empty is fine."""
    if text and parse_datetime(text) is None:
        return (
            f"Enter a date and time in {zone.zone_name()}, such as 2026-03-05T14:30 "
            "(year-month-day, then hours:minutes), or leave it empty."
        )
    return None


def tag_names(tags: str) -> list[str]:
    """Return the tags of a comma-separated field, normalized, without duplicates.

    They stay in the order typed.
    """
    # A dict keeps the first occurrence in order, in linear time.
    names = dict.fromkeys(" ".join(raw.split()).lower() for raw in tags.split(","))
    names.pop("", None)
    return list(names)


def tag_problem(name: str) -> str | None:
    """Return why ``name`` (normalized) cannot be a tag, or None if it can."""
    if len(name) > MAX_TAG:
        return f"Keep each tag under {MAX_TAG} characters."
    if "/" in name or "?" in name or "#" in name:
        return 'Tags cannot contain "/", "?" or "#".'
    if name in _DOT_TAGS:
        return 'A tag cannot be "." or "..".'
    # Control characters (NUL, escapes) and lone surrogates have no place in
    # a name that is shown, linked and stored.
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in name):
        return "Tags cannot contain control characters."
    return None


def parse_datetime(text: str) -> datetime | None:
    """Parse a ``datetime-local`` value typed in the site's time zone.

    :return: the moment in UTC, or None when ``text`` is no such value.
    """
    if not _DATETIME_RE.fullmatch(text):
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return zone.from_local(value)


def slug_taken(slug: str, post: Post | None = None) -> bool:
    """Tell whether a post other than ``post`` uses ``slug``."""
    query = select(Post.id).where(Post.slug == slug)
    if post is not None and post.id is not None:
        query = query.where(Post.id != post.id)
    return session.execute(query.limit(1)).first() is not None


def unique_slug(title: str) -> str:
    """Make an ASCII slug from ``title`` that no post uses yet."""
    # python-slugify transliterates any script (Cyrillic, Greek, CJK) to ASCII;
    # a title made only of symbols or emoji falls back to "post".
    base = slugify(title, max_length=MAX_SLUG - 6, word_boundary=True) or "post"
    taken = set(
        session.scalars(
            select(Post.slug).where(or_(Post.slug == base, Post.slug.like(f"{base}-%")))
        )
    )
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def get_or_create_tags(names: list[str]) -> list[Tag]:
    """Return Tag rows for ``names``, creating the missing ones."""
    if not names:
        return []
    # Writers hold SQLite's write lock from BEGIN IMMEDIATE, so no other
    # request can insert the same tag between this SELECT and the INSERT.
    existing = {
        tag.name: tag for tag in session.scalars(select(Tag).where(Tag.name.in_(names)))
    }
    tags = []
    for name in names:
        tag = existing.get(name)
        if tag is None:
            tag = Tag(name=name)
            session.add(tag)
        tags.append(tag)
    return tags


def apply_fields(post: Post, fields: PostFields) -> Post:
    """Copy checked (and so rendered) fields onto ``post``."""
    if fields.body_html is None or fields.summary_html is None:
        raise ValueError("apply_fields() needs fields that check_post() accepted")
    # The slug and tag look-ups below must not flush the half-filled post.
    with session.no_autoflush:
        post.title = fields.title
        old_slug = post.slug
        if fields.slug:
            post.slug = fields.slug
        elif not post.slug:
            post.slug = unique_slug(fields.title)
        remember_old_slug(post, old_slug)
        post.kind = fields.kind
        post.body = fields.body
        post.body_html = fields.body_html
        post.summary = fields.summary
        post.summary_html = fields.summary_html
        post.share_image = share_image_name(fields.share_image) or ""
        post.renderer = markdown.RENDERER_VERSION
        post.tags = get_or_create_tags(fields.tag_names())
        if fields.publish_at is not None:
            # The form shows whole minutes; an unchanged field must not move
            # the stored date by its seconds (and with it the post's order).
            current = post.published_at
            if current is None or current.strftime(DATETIME_FORMAT) != (
                fields.publish_at.strftime(DATETIME_FORMAT)
            ):
                post.published_at = fields.publish_at
        elif fields.status == PUBLISHED and post.published_at is None:
            post.published_at = utcnow()
        post.status = fields.status
        # A save that changes the post makes a new version, so that a form
        # opened before it is recognized as stale (see admin.posts._write). One
        # that changes nothing does not: it cannot undo anyone's work, and
        # readers' pages and validators stay as they are.
        if post.version is None or session.is_modified(post):
            post.version = (post.version or 0) + 1
    return post


def save(post: Post, fields: PostFields, editor: Author | None) -> Post:
    """Save checked ``fields`` as ``post`` inside the caller's write transaction.

    The one way a post changes, for the admin form, a restored version and an
    import: the version it replaces is kept, the fields applied, who saved it
    recorded (the byline stays), and tags no post uses any more deleted. The
    flush bumps the site's content version if readers see a change.
    """
    if post.id is None:
        session.add(post)
    else:
        history.keep(post, fields, editor)
    apply_fields(post, fields)
    post.updated_by = editor
    session.flush()
    delete_orphan_tags()
    return post


def remember_old_slug(post: Post, old_slug: str | None) -> None:
    """Keep ``old_slug`` leading to ``post`` after the post took a new slug."""
    if post.slug == old_slug:
        return
    # The new slug is a live address now, so whatever redirect it used to be
    # is dropped: a post that takes an old slug wins it.
    stale = [post.slug] if not old_slug else [post.slug, old_slug]
    session.execute(delete(SlugRedirect).where(SlugRedirect.slug.in_(stale)))
    if old_slug and post.id is not None:
        session.add(SlugRedirect(slug=old_slug, post_id=post.id))


def delete_orphan_tags() -> None:
    """Delete tags that no post uses any more."""
    used = exists().where(post_tags.c.tag_id == Tag.id)
    session.execute(delete(Tag).where(~used))

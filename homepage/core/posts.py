"""Post rules shared by the reader and admin views: validation, slugs, tags, queries."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import current_app
from slugify import slugify
from sqlalchemy import delete, exists, or_, select

from ..db import session
from . import history, markdown
from .models import (
    KINDS,
    POST,
    PUBLISHED,
    STATUSES,
    Author,
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
# What an <input type="datetime-local"> sends: minutes, or seconds if typed.
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?")
# A post's version as the edit form sends it: ASCII digits, bounded.
_VERSION_RE = re.compile(r"[1-9][0-9]{0,17}")
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


@dataclass
class PostForm:
    """The author's input for a post, kept as typed so the form can show it again."""

    title: str = ""
    slug: str = ""
    body: str = ""
    summary: str = ""
    tags: str = ""
    status: str = "draft"
    kind: str = POST
    #: The publish date as typed (UTC), empty for "when first published".
    published_at: str = ""
    #: The version of the post the form was opened at; None for a new post, or
    #: when an edit form sent none or a malformed one.
    version: int | None = None
    errors: dict[str, str] = field(default_factory=dict)
    #: ``published_at`` parsed by :meth:`validate`.
    publish_at: datetime | None = None
    #: The body and summary rendered by :meth:`validate`, before any write, so
    #: that rendering never runs while the database's write lock is held.
    body_html: str | None = None
    summary_html: str | None = None

    @classmethod
    def from_request(cls, form) -> PostForm:
        """Read the fields from a submitted form."""
        return cls(
            title=form.get("title", ""),
            slug=form.get("slug", ""),
            body=form.get("body", ""),
            summary=form.get("summary", ""),
            tags=form.get("tags", ""),
            status=form.get("status", ""),
            kind=form.get("kind", POST),
            published_at=form.get("published_at", ""),
            version=parse_version(form.get("version", "")),
        )

    @classmethod
    def from_post(cls, post: Post) -> PostForm:
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
                post.published_at.strftime(DATETIME_FORMAT) if post.published_at else ""
            ),
            version=post.version,
        )

    def tag_names(self) -> list[str]:
        """Return the tags, normalized, without duplicates, in the order typed."""
        # A dict keeps the first occurrence in order, in linear time.
        names = dict.fromkeys(
            " ".join(raw.split()).lower() for raw in self.tags.split(",")
        )
        names.pop("", None)
        return list(names)

    def validate(self, post: Post | None = None) -> bool:
        """Check every field, recording one message per bad field."""
        self.errors.clear()
        if post is not None and self.version is None:
            self.errors["version"] = (
                "The form did not say which version of the post it was opened "
                "at, so saving it could undo someone else's changes."
            )
        self.title = self.title.strip()
        self.slug = self.slug.strip()
        self.summary = self.summary.strip()
        if not self.title:
            self.errors["title"] = "Give the post a title."
        elif len(self.title) > MAX_TITLE:
            self.errors["title"] = f"Keep the title under {MAX_TITLE} characters."
        if self.slug:
            if not _SLUG_RE.fullmatch(self.slug) or len(self.slug) > MAX_SLUG:
                self.errors["slug"] = (
                    "Use lower-case letters a-z, digits and single hyphens, "
                    f"at most {MAX_SLUG} characters, or leave it empty."
                )
            elif slug_taken(self.slug, post):
                self.errors["slug"] = "Another post already uses this slug."
        limit = current_app.config["MAX_BODY_BYTES"]
        if not self.body.strip():
            self.errors["body"] = "Write something in the body."
        elif len(self.body.encode("utf-8", "surrogatepass")) > limit:
            self.errors["body"] = (
                f"The body is too long: keep it under {limit:,} bytes."
            )
        elif problem := markdown.too_costly(self.body):
            self.errors["body"] = problem
        if len(self.summary) > MAX_SUMMARY:
            self.errors["summary"] = f"Keep the summary under {MAX_SUMMARY} characters."
        if problem := self._tags_problem():
            self.errors["tags"] = problem
        if self.status not in STATUSES:
            self.errors["status"] = "Choose draft or published."
        if self.kind not in KINDS:
            self.errors["kind"] = "Choose post or page."
        self.published_at = self.published_at.strip()
        self.publish_at = None
        if self.published_at:
            self.publish_at = parse_datetime(self.published_at)
            if self.publish_at is None:
                self.errors["published_at"] = (
                    "Enter a date and time in UTC, such as 2026-03-05T14:30, "
                    "or leave it empty."
                )
        self.body_html = self.summary_html = None
        if "body" not in self.errors:
            self.body_html = markdown.render(self.body)
            if "summary" not in self.errors:
                self.summary_html = (
                    markdown.render(self.summary)
                    if self.summary
                    else markdown.first_paragraph(self.body_html)
                )
        return not self.errors

    def _tags_problem(self) -> str | None:
        """Return what is wrong with the tags field, or None."""
        # Bounded before splitting, so a huge field costs nothing to refuse.
        if len(self.tags) > MAX_TAGS_FIELD:
            return f"Use at most {MAX_TAGS} tags of at most {MAX_TAG} characters."
        names = self.tag_names()
        if len(names) > MAX_TAGS:
            return f"Use at most {MAX_TAGS} tags."
        for name in names:
            if problem := tag_problem(name):
                return problem
        return None


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


def parse_version(text: str) -> int | None:
    """Parse the version an edit form sends; return None when it is not one."""
    return int(text) if _VERSION_RE.fullmatch(text) else None


def parse_datetime(text: str) -> datetime | None:
    """Parse a ``datetime-local`` value as UTC; return None when it is not one."""
    if not _DATETIME_RE.fullmatch(text):
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.replace(tzinfo=UTC)


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


def apply_form(post: Post, form: PostForm) -> Post:
    """Copy validated (and so rendered) input onto ``post``."""
    if form.body_html is None or form.summary_html is None:
        raise ValueError("apply_form() needs a form that validate() accepted")
    # The slug and tag look-ups below must not flush the half-filled post.
    with session.no_autoflush:
        post.title = form.title
        old_slug = post.slug
        if form.slug:
            post.slug = form.slug
        elif not post.slug:
            post.slug = unique_slug(form.title)
        remember_old_slug(post, old_slug)
        post.kind = form.kind
        post.body = form.body
        post.body_html = form.body_html
        post.summary = form.summary
        post.summary_html = form.summary_html
        post.tags = get_or_create_tags(form.tag_names())
        if form.publish_at is not None:
            # The form shows whole minutes; an unchanged field must not move
            # the stored date by its seconds (and with it the post's order).
            current = post.published_at
            if current is None or current.strftime(DATETIME_FORMAT) != (
                form.publish_at.strftime(DATETIME_FORMAT)
            ):
                post.published_at = form.publish_at
        elif form.status == PUBLISHED and post.published_at is None:
            post.published_at = utcnow()
        post.status = form.status
        # A save that changes the post makes a new version, so that a form
        # opened before it is recognized as stale (see admin._write). One that
        # changes nothing does not: it cannot undo anyone's work, and readers'
        # pages and validators stay as they are.
        if post.version is None or session.is_modified(post):
            post.version = (post.version or 0) + 1
    return post


def save(post: Post, form: PostForm, editor: Author | None) -> Post:
    """Save a validated ``form`` as ``post`` inside the caller's write transaction.

    The one way a post changes, for the admin form, a restored version and an
    import: the version it replaces is kept, the fields applied, who saved it
    recorded (the byline stays), and tags no post uses any more deleted. The
    flush bumps the site's content version if readers see a change.
    """
    if post.id is None:
        session.add(post)
    else:
        history.keep(post, form, editor)
    apply_form(post, form)
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

"""HTTP caching of reader pages: validators from one small query, and 304s.

A reader page depends on three things: the content readers can see, the code
and templates that render it, and who is asking. The content is summed up by
``site_state.version``, which every flush that changes a visible post bumps in
the same transaction, and by the newest publish date already due, which moves
when a scheduled post comes due without anyone writing anything. The code is
summed up once per process by a digest of the templates, static files and
modules. So a conditional request is answered with one indexed query and no
rendering at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

from flask import Blueprint, Flask, current_app, g, request
from flask import session as cookie
from flask_wtf.csrf import generate_csrf
from sqlalchemy import bindparam, event, func, insert, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from .db import session
from .models import PUBLISHED, Author, Post, SiteState, UTCDateTime, utcnow
from .posts import reader_now

EXTENSION_KEY = "homepage.caching"
_STATE_ID = 1


@dataclass(frozen=True)
class Validators:
    """What a reader's cached copy is compared with."""

    etag: str
    last_modified: datetime
    private: bool


def create_state(connection: Connection) -> None:
    """Insert the site's state row if it is missing."""
    exists = connection.execute(
        select(SiteState.id).where(SiteState.id == _STATE_ID)
    ).first()
    if exists is None:
        connection.execute(
            insert(SiteState).values(id=_STATE_ID, version=0, changed_at=utcnow())
        )


def content_changed(connection: Connection | None = None) -> None:
    """Record that what readers see has changed, in the current transaction.

    Flushes of posts call this by themselves; code that changes posts with
    bulk ``UPDATE`` or ``DELETE`` statements must call it too.
    """
    connection = connection or session.connection()
    connection.execute(
        update(SiteState)
        .where(SiteState.id == _STATE_ID)
        .values(version=SiteState.version + 1, changed_at=utcnow())
    )


def _visible(status: str | None, published_at: datetime | None, now: datetime):
    return status == PUBLISHED and published_at is not None and published_at <= now


def _old_value(obj, name: str):
    history = inspect(obj).attrs[name].history
    return history.deleted[0] if history.deleted else getattr(obj, name)


def _changes_reader_pages(db_session: Session, now: datetime) -> bool:
    """Tell whether this flush changes anything a reader can see."""
    for post in _of_type(chain(db_session.new, db_session.deleted), Post):
        if _visible(post.status, post.published_at, now):
            return True
    for post in _of_type(db_session.dirty, Post):
        if not db_session.is_modified(post):
            continue
        # A draft or a scheduled post can change freely: readers see it
        # neither before nor after, so their cached pages stay valid.
        before = _visible(
            _old_value(post, "status"), _old_value(post, "published_at"), now
        )
        if before or _visible(post.status, post.published_at, now):
            return True
    # Post pages show the author's name.
    return any(
        inspect(author).attrs.username.history.has_changes()
        for author in _of_type(db_session.dirty, Author)
    )


def _of_type(objects: Iterable, cls: type) -> list:
    return [obj for obj in objects if isinstance(obj, cls)]


def _bump_on_flush(db_session: Session, _flush_context) -> None:
    """Bump the content version when a flush changes what readers see."""
    if _changes_reader_pages(db_session, utcnow()):
        content_changed(db_session.connection())


def _state_query():
    """Build the one query behind every validator (built once, then cached)."""
    now = bindparam("now", type_=UTCDateTime)
    due = (
        select(func.max(Post.published_at))
        .where(Post.status == PUBLISHED, Post.published_at <= now)
        .scalar_subquery()
    )
    return select(SiteState.version, SiteState.changed_at, due.label("due")).where(
        SiteState.id == _STATE_ID
    )


def code_version(app: Flask) -> tuple[str, datetime]:
    """Digest the templates, static files, modules and site settings.

    A deployment that changes how pages look changes every validator; the
    digest depends only on the files, so every server process agrees on it.
    """
    roots = [Path(app.template_folder), Path(app.static_folder), Path(__file__).parent]
    digest = hashlib.blake2b(digest_size=16)
    newest = 0
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                stat = path.stat()
                newest = max(newest, stat.st_mtime_ns)
                digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    settings = sorted(
        (key, repr(value))
        for key, value in app.config.items()
        if key.startswith(("SITE_", "FEED_")) or key == "POSTS_PER_PAGE"
    )
    digest.update(repr(settings).encode())
    return digest.hexdigest(), datetime.fromtimestamp(newest / 1e9, UTC)


def _viewer() -> str | None:
    """Return what identifies a logged-in author's pages, or None for readers."""
    if "author_id" not in cookie:
        return None
    # Pages for an author carry a CSRF token for the log-out form; a new
    # login brings a new token, so it must bring new validators too.
    # generate_csrf() stores the token on first use, so the validators of
    # the first page after login already match those of the next ones.
    generate_csrf()
    token_key = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    return f"{cookie['author_id']}:{cookie.get(token_key, '')}"


def compute_validators() -> Validators | None:
    """Return the validators of the page being requested, or None."""
    # A page that shows a flashed message is a one-off; it is not cached.
    if "_flashes" in cookie:
        return None
    state = current_app.extensions[EXTENSION_KEY]
    row = session.execute(state["query"], {"now": reader_now()}).first()
    if row is None:
        return None
    viewer = _viewer()
    key = "|".join(
        (
            state["code"],
            str(row.version),
            row.due.isoformat() if row.due else "-",
            request.full_path,
            viewer or "-",
        )
    )
    etag = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    last_modified = max(row.changed_at, row.due or row.changed_at, state["code_time"])
    return Validators(etag, last_modified, private=viewer is not None)


def _apply(response, validators: Validators):
    # Weak for an author: their pages embed a freshly signed CSRF token, so
    # two renderings are equivalent but not byte for byte the same.
    response.set_etag(validators.etag, weak=validators.private)
    response.last_modified = validators.last_modified
    # no-cache: caches may store the page but must ask before reusing it,
    # which is cheap thanks to the 304s. An author's pages are private.
    response.cache_control.no_cache = True
    if validators.private:
        response.cache_control.private = True
    response.vary.add("Cookie")
    return response


def answer_not_modified():
    """Answer 304 when the reader's copy is current, before the view runs."""
    if request.method not in ("GET", "HEAD"):
        return None
    validators = g.validators = compute_validators()
    if validators is None:
        return None
    if not (request.if_none_match or request.if_modified_since):
        return None
    response = _apply(current_app.response_class(), validators)
    response.make_conditional(request)
    return response if response.status_code == 304 else None


def add_validators(response):
    """Give a rendered reader page its validators and cache rules."""
    validators = g.get("validators")
    response.vary.add("Cookie")
    if validators is not None and response.status_code == 200:
        _apply(response, validators)
    return response


def cache_reader_pages(bp: Blueprint) -> None:
    """Make every page of ``bp`` answer conditional requests."""
    bp.before_request(answer_not_modified)
    bp.after_request(add_validators)


def init_app(app: Flask) -> None:
    """Digest the code once and bump the version on every visible change."""
    code, code_time = code_version(app)
    app.extensions[EXTENSION_KEY] = {
        "query": _state_query(),
        "code": code,
        "code_time": code_time,
    }
    if not event.contains(session, "after_flush", _bump_on_flush):
        event.listen(session, "after_flush", _bump_on_flush)

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
from sqlalchemy import event, insert, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date, is_resource_modified, quote_etag
from werkzeug.wrappers import Request

from .db import get_engine, session
from .models import PUBLISHED, Author, Post, SiteState, utcnow
from .posts import reader_now

EXTENSION_KEY = "homepage.caching"
#: Where the middleware leaves the validators it computed for the app.
ENVIRON_KEY = "homepage.validators"
VARY = ("Vary", "Cookie")
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


# The validators' one query, on a pooled connection of its own rather than
# through the ORM session: it is the whole cost of a 304, and plain DB-API is
# several times cheaper. Being a single statement, it reads one consistent
# snapshot even without BEGIN. It runs before the page's own queries, so a
# page can only be newer than its validators, never older: at worst a
# reader fetches a page once more. Dates are compared as SQLAlchemy stores
# them in SQLite, as "YYYY-MM-DD HH:MM:SS.ffffff" text in UTC.
_STATE_SQL = (
    "SELECT version, changed_at, (SELECT max(published_at) FROM posts"
    " WHERE status = ? AND published_at <= ?) FROM site_state WHERE id = ?"
)
_STORED_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def _read_state(app: Flask, now: datetime):
    """Return the content version, when it changed, and the newest due date."""
    bound = now.astimezone(UTC).strftime(_STORED_FORMAT)
    connection = get_engine(app).raw_connection()
    try:
        cursor = connection.cursor()
        try:
            row = cursor.execute(_STATE_SQL, (PUBLISHED, bound, _STATE_ID)).fetchone()
        finally:
            cursor.close()
    finally:
        connection.close()
    if row is None:
        return None
    version, changed_at, due = row
    return version, _parse_stored(changed_at), due and _parse_stored(due)


def _parse_stored(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


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


def validators_for(
    app: Flask, full_path: str, viewer: str | None, now: datetime
) -> Validators | None:
    """Return the validators of the page at ``full_path`` as ``viewer`` sees it."""
    state = app.extensions[EXTENSION_KEY]
    row = _read_state(app, now)
    if row is None:
        return None
    version, changed_at, due = row
    key = "|".join(
        (
            state["code"],
            str(version),
            due.isoformat() if due else "-",
            full_path,
            viewer or "-",
        )
    )
    etag = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    last_modified = max(changed_at, due or changed_at, state["code_time"])
    return Validators(etag, last_modified, private=viewer is not None)


def compute_validators() -> Validators | None:
    """Return the validators of the page being requested, or None."""
    # Already computed by the middleware for an anonymous reader.
    if ENVIRON_KEY in request.environ:
        return request.environ[ENVIRON_KEY]
    # A page that shows a flashed message is a one-off; it is not cached.
    if "_flashes" in cookie:
        return None
    return validators_for(
        current_app._get_current_object(), request.full_path, _viewer(), reader_now()
    )


def cache_headers(validators: Validators) -> list[tuple[str, str]]:
    """Return the validator and cache headers of a reader page."""
    # no-cache: caches may store the page but must ask before reusing it,
    # which is cheap thanks to the 304s. An author's pages are private, and
    # their ETag weak: they embed a freshly signed CSRF token, so two
    # renderings are equivalent but not byte for byte the same.
    return [
        ("ETag", quote_etag(validators.etag, weak=validators.private)),
        ("Last-Modified", http_date(validators.last_modified)),
        ("Cache-Control", "private, no-cache" if validators.private else "no-cache"),
    ]


def _apply(response, validators: Validators):
    for name, value in cache_headers(validators):
        response.headers[name] = value
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


class NotModifiedMiddleware:
    """Answer an anonymous reader's conditional request before Flask runs.

    Most revalidations come from readers without a session cookie, whose
    pages depend only on the address and the site's state. For them the
    whole 304 is one query, a hash and four headers; building Flask's
    request context, opening the session and running the hooks would cost
    several times more. Anything else goes on to the app, which reuses the
    validators computed here.
    """

    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if (
            environ.get("REQUEST_METHOD") in ("GET", "HEAD")
            and ("HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ)
            # Any session cookie may hold a login or a flashed message.
            and self.app.config["SESSION_COOKIE_NAME"] + "="
            not in environ.get("HTTP_COOKIE", "")
            and self._is_reader_page(environ)
        ):
            validators = validators_for(
                self.app, Request(environ).full_path, None, utcnow()
            )
            environ[ENVIRON_KEY] = validators
            if validators is not None and not is_resource_modified(
                environ, validators.etag, last_modified=validators.last_modified
            ):
                start_response("304 NOT MODIFIED", [*cache_headers(validators), VARY])
                return []
        return self.wsgi_app(environ, start_response)

    def _is_reader_page(self, environ) -> bool:
        """Tell whether the request is for a page that carries validators."""
        # An ETag names the site's state and the exact address it was sent
        # for, and only reader pages send one; so when the client offers
        # ETags, a match proves it is a reader page and routing can wait.
        if "HTTP_IF_NONE_MATCH" in environ:
            return True
        try:
            endpoint, _ = self.app.url_map.bind_to_environ(environ).match()
        except HTTPException:
            return False
        blueprints = self.app.extensions[EXTENSION_KEY]["blueprints"]
        return endpoint.partition(".")[0] in blueprints


def cache_reader_pages(bp: Blueprint) -> None:
    """Make every page of ``bp`` answer conditional requests."""
    bp.before_request(answer_not_modified)
    bp.after_request(add_validators)
    bp.record_once(
        lambda state: state.app.extensions[EXTENSION_KEY]["blueprints"].add(bp.name)
    )


def init_app(app: Flask) -> None:
    """Digest the code once, answer 304s early, bump the version on changes."""
    code, code_time = code_version(app)
    app.extensions[EXTENSION_KEY] = {
        "code": code,
        "code_time": code_time,
        "blueprints": set(),
    }
    app.wsgi_app = NotModifiedMiddleware(app, app.wsgi_app)
    if not event.contains(session, "after_flush", _bump_on_flush):
        event.listen(session, "after_flush", _bump_on_flush)

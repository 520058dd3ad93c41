"""HTTP caching of reader pages: validators from one small query, and 304s.

A reader page depends on four things: the content readers can see, the code
and templates that render it, the address it was asked for, and who is asking.
The content is summed up by ``site_state.version``, which every flush that
changes a visible post bumps in the same transaction, and by the newest publish
date already due, which moves when a scheduled post comes due without anyone
writing anything. The code is summed up once per process by a digest of the
templates, static files and modules. So a conditional request is answered with
one indexed query and no rendering at all.

A 304 or a stored page is only ever given for a page that exists: one that was
rendered with status 200 under the same validators (it is in the page cache,
or the client offers its exact ETag). Anything else goes to the view, which
decides, and only then is a conditional request answered.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import Blueprint, Flask, Request, current_app, request
from flask import session as cookie
from flask_wtf.csrf import generate_csrf
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.http import (
    HTTP_STATUS_CODES,
    http_date,
    is_resource_modified,
    parse_etags,
    quote_etag,
)
from werkzeug.wrappers import Request as WSGIRequest
from werkzeug.wsgi import get_host

from ..core import content
from ..core.coalesce import Coalesced
from ..core.models import utcnow
from ..db import get_engine
from ..web.security import is_admin_path
from .queries import reader_now

EXTENSION_KEY = "homepage.caching"
#: Where the middleware leaves the validators it computed for the app.
ENVIRON_KEY = "homepage.validators"
#: Where the app marks a response the middleware may store in the page cache.
CACHEABLE_KEY = "homepage.cacheable"
VARY = ("Vary", "Cookie")
_STATE_ID = 1


@dataclass(frozen=True)
class Validators:
    """What a reader's cached copy is compared with."""

    etag: str
    last_modified: datetime
    private: bool
    #: The content version and the newest due date: what readers' pages are
    #: made of, whatever the address. Parts of pages shared by every address
    #: (the navigation) are cached under it.
    content: tuple[int, datetime | None] = (0, None)


class PageCache:
    """Rendered reader pages of this process, keyed by their ETag.

    An ETag names the code, the content version, the newest due post, the
    address (with scheme and host, unless ``SITE_URL`` fixes them) and the
    viewer, so a page stored under it can be served again for as long as a
    request computes the same ETag: a save, a post coming due or a deployment
    changes the key, and the stale copy is never looked up again. Only
    anonymous readers' pages are kept; an author's pages carry a CSRF token.
    Least recently used pages are dropped past the limits.
    """

    def __init__(self, max_entries: int, max_bytes: int, max_page_bytes: int):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_page_bytes = max_page_bytes
        self._pages: OrderedDict[str, tuple[int, list, bytes]] = OrderedDict()
        self._bytes = 0
        # mod_wsgi serves many threads per process; the dict is shared.
        self._lock = threading.Lock()

    def get(self, etag: str) -> tuple[int, list, bytes] | None:
        """Return the stored status, headers and body for ``etag``."""
        with self._lock:
            page = self._pages.get(etag)
            if page is not None:
                self._pages.move_to_end(etag)
            return page

    def put(self, etag: str, status: int, headers: list, body: bytes) -> None:
        """Store a page, dropping the least recently used ones past the limits."""
        if len(body) > self.max_page_bytes or self.max_entries <= 0:
            return
        with self._lock:
            if etag in self._pages:
                return
            self._pages[etag] = (status, headers, body)
            self._bytes += len(body)
            while self._pages and (
                len(self._pages) > self.max_entries or self._bytes > self.max_bytes
            ):
                _, (_, _, dropped) = self._pages.popitem(last=False)
                self._bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._pages)


# Headers that belong to one response, never to a stored page.
_UNCACHED_HEADERS = {"set-cookie", "content-length", "date"}


def code_version(app: Flask) -> tuple[str, datetime]:
    """Digest the templates, static files, modules and site settings.

    A deployment that changes how pages look changes every validator; the
    digest depends only on the files, so every server process agrees on it.
    """
    # create_app names both folders.
    assert app.template_folder is not None and app.static_folder is not None
    # The whole package, not this folder alone: any module may shape a page.
    package = Path(__file__).resolve().parent.parent
    roots = [Path(app.template_folder), Path(app.static_folder), package]
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


def page_origin(app: Flask, environ) -> str:
    """Return the part of the request's address that its page shows, if any."""
    # Absolute URLs (canonical links, feeds, OpenGraph) come from SITE_URL
    # when it is set. Without it they come from the request's scheme and Host
    # header, which the client chooses; they must then be part of the key, or
    # a page rendered for a forged host would be served to every reader.
    # get_host() is what Flask's request.host is made of.
    if app.config.get("SITE_URL"):
        return ""
    return f"{environ['wsgi.url_scheme']}://{get_host(environ)}"


#: Where mod_wsgi puts the moment Apache read the request's first line
#: (httpd's ``r->request_time``, on the system clock): seconds in a float
#: since mod_wsgi 6, microseconds in a string before.
REQUEST_START_KEY = "mod_wsgi.request_start"


def arrived_at(environ) -> float | None:
    """Return when the server received the request, if the server says."""
    stamp = environ.get(REQUEST_START_KEY)
    if isinstance(stamp, float):
        seconds = stamp
    elif isinstance(stamp, str) and stamp.isdigit():
        seconds = int(stamp) / 1e6
    else:
        return None
    # Cut to the microsecond: the stamp was taken within the next one.
    return seconds + 1e-6


def validators_for(
    app: Flask, full_path: str, viewer: str | None, origin: str, row: tuple | None
) -> Validators | None:
    """Return the validators of the page at ``origin`` + ``full_path``.

    :param viewer: who sees the page, None for anonymous readers.
    :param origin: what :func:`page_origin` returns for the request.
    :param row: the site's state, from :func:`content.read_state`.
    """
    state = app.extensions[EXTENSION_KEY]
    if row is None:
        return None
    version, changed_at, due = row
    key = "|".join(
        (
            state["code"],
            str(version),
            due.isoformat() if due else "-",
            origin,
            full_path,
            viewer or "-",
        )
    )
    etag = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    last_modified = max(changed_at, due or changed_at, state["code_time"])
    return Validators(
        etag, last_modified, private=viewer is not None, content=(version, due)
    )


def compute_validators(request: Request) -> Validators | None:
    """Return the validators of the page ``request`` asks for, or None."""
    # A page that shows a flashed message is a one-off; it is not cached.
    if "_flashes" in cookie:
        return None
    # current_app is a LocalProxy, which Flask's annotations call a Flask.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return validators_for(
        app,
        request.full_path,
        _viewer(),
        page_origin(app, request.environ),
        # The moment this request's page is rendered at, so the page can
        # be no newer than its validators say.
        content.read_state(get_engine(app), reader_now()),
    )


class ReaderRequest(Request):
    """A request that carries the validators of the reader page it asks for."""

    #: Set by :func:`answer_not_modified` before the view runs; None for a
    #: page that is not cached (an admin page, a flashed message, no state).
    validators: Validators | None = None
    #: Set when the page came from the page cache, so it is not stored again.
    served_from_cache = False

    def find_validators(self) -> Validators | None:
        """Return the page's validators: the middleware's, or computed now."""
        # The middleware computed them already for an anonymous reader (None
        # when the database could not say), before Flask ran; the only way to
        # hand them over is the WSGI environ.
        if ENVIRON_KEY in self.environ:
            return self.environ[ENVIRON_KEY]
        return compute_validators(self)


class SharedParts:
    """Parts of readers' pages that every address shows, kept per content state.

    The navigation's list of pages is the same on every page; while the
    content version and the newest due date stay the same, so does the list.
    One entry is kept, the current state's; threads share it.
    """

    def __init__(self) -> None:
        self._state: tuple | None = None
        self._parts: dict[str, object] = {}
        self._lock = threading.Lock()

    def get(self, name: str, make):
        """Return the part ``name`` for this request's state, made once."""
        validators = this_request().validators
        if validators is None:
            return make()
        with self._lock:
            if self._state == validators.content and name in self._parts:
                return self._parts[name]
        part = make()
        with self._lock:
            if self._state != validators.content:
                self._state, self._parts = validators.content, {}
            self._parts[name] = part
        return part


def shared_part(name: str, make):
    """Return a part every reader page shows, cached for the content's state."""
    return current_app.extensions[EXTENSION_KEY]["shared"].get(name, make)


def this_request() -> ReaderRequest:
    """Return the current request, which init_app made a :class:`ReaderRequest`."""
    return request._get_current_object()  # type: ignore[attr-defined]


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


def offers_etag(if_none_match: str | None, etag: str) -> bool:
    """Tell whether ``If-None-Match`` names ``etag`` itself, not just ``*``."""
    # An ETag is only ever sent with a page of status 200, and it names the
    # address and the site's state; so the client offering it proves the page
    # exists. "*" proves nothing: it is offered for any address.
    etags = parse_etags(if_none_match)
    return not etags.star_tag and etags.contains_weak(etag)


def stored_or_not_modified(
    environ, validators: Validators, pages: PageCache
) -> tuple[bool, tuple[int, list, bytes] | None]:
    """Decide, with one page-cache look-up, how a reader's request is answered.

    Returns whether the reader's copy is current (answer 304), and the stored
    rendering of the page if there is one. A 304 is only for a page known to
    exist: a stored one (only pages of status 200 are stored), or one whose
    own ETag the client offers; any other address, ``/posts/<missing>``
    included, goes to the view, which answers once the page proved to exist.
    """
    page = None if validators.private else pages.get(validators.etag)
    not_modified = (
        ("HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ)
        and (
            page is not None
            or offers_etag(environ.get("HTTP_IF_NONE_MATCH"), validators.etag)
        )
        and not is_resource_modified(
            environ, validators.etag, last_modified=validators.last_modified
        )
    )
    return not_modified, page


def answer_not_modified():
    """Answer 304 when the reader's copy is current, before the view runs.

    Only for a page known to exist (see :func:`offers_etag` and the page
    cache); otherwise the view runs first, and :func:`add_validators` answers
    the conditional request once the page turned out to be there.
    """
    reader = this_request()
    if reader.method not in ("GET", "HEAD"):
        return None
    validators = reader.validators = reader.find_validators()
    if validators is None:
        return None
    pages = current_app.extensions[EXTENSION_KEY]["pages"]
    not_modified, page = stored_or_not_modified(reader.environ, validators, pages)
    if not_modified:
        return current_app.response_class(
            status=304, headers=[*cache_headers(validators), VARY]
        )
    if page is None:
        return None
    status, headers, body = page
    reader.served_from_cache = True
    return current_app.response_class(body, status=status, headers=headers)


def add_validators(response):
    """Give a rendered reader page its validators and cache rules.

    A conditional request that :func:`answer_not_modified` left to the view
    gets its 304 here, now that the page is known to exist.
    """
    reader = this_request()
    validators = reader.validators
    response.vary.add("Cookie")
    if validators is not None and response.status_code == 200:
        _apply(response, validators)
        _mark_cacheable(reader, validators, response)
        if reader.if_none_match or reader.if_modified_since:
            response.make_conditional(reader)
    return response


def _mark_cacheable(reader: ReaderRequest, validators: Validators, response) -> None:
    """Mark an anonymous reader's page for the page cache.

    The middleware stores it once the response is final, with the headers
    that later hooks (security headers) add.
    """
    if (
        validators.private
        or reader.served_from_cache
        or reader.method != "GET"
        or response.is_streamed
    ):
        return
    reader.environ[CACHEABLE_KEY] = validators.etag


class NotModifiedMiddleware:
    """Answer an anonymous reader before Flask runs: a 304, or a stored page.

    Most requests come from readers without a session cookie, whose pages
    depend only on the address and the site's state. For them a 304 or a
    page already in the page cache costs at most one query (shared with the
    requests that came before it, see core/coalesce.py), a hash and a
    dictionary look-up; building Flask's request context, opening the
    session and running the hooks would cost several times more. Anything
    else goes on to the app, which reuses the validators computed here.
    """

    #: Files, which are never reader pages, so no query is spent on them.
    FILES = ("/static/", "/media/")

    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        if (
            method not in ("GET", "HEAD")
            # Any session cookie may hold a login or a flashed message.
            or self.app.config["SESSION_COOKIE_NAME"] + "="
            in environ.get("HTTP_COOKIE", "")
            or self._is_admin_or_file(environ.get("PATH_INFO", ""))
        ):
            return self.wsgi_app(environ, start_response)
        validators = environ[ENVIRON_KEY] = self._validators(environ)
        if validators is None:
            return self._render_and_store(environ, start_response)
        pages = self.app.extensions[EXTENSION_KEY]["pages"]
        not_modified, page = stored_or_not_modified(environ, validators, pages)
        if not_modified:
            start_response("304 NOT MODIFIED", [*cache_headers(validators), VARY])
            return []
        if page is None:
            return self._render_and_store(environ, start_response)
        status, headers, body = page
        start_response(
            f"{status} {HTTP_STATUS_CODES[status].upper()}",
            [*headers, ("Content-Length", str(len(body)))],
        )
        return [] if method == "HEAD" else [body]

    def _validators(self, environ) -> Validators | None:
        """Return the validators of an anonymous reader's page, or None."""
        # security.TrustedHostMiddleware, outside this one, has already
        # refused hosts outside TRUSTED_HOSTS.
        try:
            return validators_for(
                self.app,
                WSGIRequest(environ).full_path,
                None,
                page_origin(self.app, environ),
                # Shared with the requests that came before it began: it
                # sees every save acknowledged before this one was sent.
                self.app.extensions[EXTENSION_KEY]["state"](arrived_at(environ)),
            )
        except SQLAlchemyError as error:
            # Outside Flask, an exception would reach Apache, which answers
            # a bare 500 without the security headers. Let the app run
            # instead: a page that needs the database gets the 503 page from
            # errors.py, with the usual headers.
            self.app.logger.error(
                "Could not read the site's state for %s: %s",
                environ.get("PATH_INFO", ""),
                error,
            )
            return None

    def _is_admin_or_file(self, path: str) -> bool:
        """Tell whether ``path`` is certainly not a reader page."""
        return is_admin_path(path) or path.startswith(self.FILES)

    def _render_and_store(self, environ, start_response):
        """Let the app render the page, and keep it if the app marked it so."""
        sent = {}

        def capture(status, headers, exc_info=None):
            sent["status"], sent["headers"] = status, headers
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, capture)
        etag = environ.get(CACHEABLE_KEY)
        headers = sent.get("headers", [])
        if (
            etag is None
            or not sent.get("status", "").startswith("200 ")
            or any(name.lower() == "set-cookie" for name, _ in headers)
        ):
            return body
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        stored = [(n, v) for n, v in headers if n.lower() not in _UNCACHED_HEADERS]
        self.app.extensions[EXTENSION_KEY]["pages"].put(etag, 200, stored, data)
        return [data]


def cache_reader_pages(bp: Blueprint) -> None:
    """Make every page of ``bp`` answer conditional requests."""
    bp.before_request(answer_not_modified)
    bp.after_request(add_validators)


def init_app(app: Flask) -> None:
    """Digest the code once, answer 304s early, bump the version on changes."""
    code, code_time = code_version(app)
    app.extensions[EXTENSION_KEY] = {
        "code": code,
        "code_time": code_time,
        "pages": PageCache(
            app.config["PAGE_CACHE_ENTRIES"],
            app.config["PAGE_CACHE_BYTES"],
            app.config["PAGE_CACHE_MAX_PAGE_BYTES"],
        ),
        "shared": SharedParts(),
        # Read at a moment after the request came, and the page is rendered
        # later still: a page can be newer than its validators, never older.
        # One read serves the requests that came before it began.
        "state": Coalesced(lambda: content.read_state(get_engine(app), utcnow())),
    }
    app.request_class = ReaderRequest
    # Flask documents wrapping wsgi_app; mypy sees only a method.
    app.wsgi_app = NotModifiedMiddleware(app, app.wsgi_app)  # type: ignore[method-assign]

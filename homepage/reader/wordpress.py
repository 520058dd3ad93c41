"""WordPress's old addresses, answered with permanent redirects to the new ones.

A site imported from WordPress (:mod:`homepage.core.wordpress`) keeps its
inbound links and search rankings: ``/?p=123``, ``/2015/01/27/slug/``,
``/2015/01/slug/``, ``/slug/``, ``/parent/child/``, ``/category/x/``,
``/tag/y/`` and ``/feed/`` lead where their content is now. Normal pages pay
nothing for it: the index looks at two query arguments, and everything else
is looked up only for an address that found no page (a 404).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from flask import Flask, abort, current_app, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import NotFound

from ..core.models import Post, WordPressPost, WordPressTerm
from ..db import session
from ..web import errors
from ..web.security import is_admin_path
from .queries import is_visible
from .templating import post_url

#: The query arguments by which WordPress addresses a post or a page.
ID_ARGUMENTS = ("p", "page_id")
#: WordPress's feeds (RSS 2, Atom, RDF), all answered by the Atom feed.
_FEED = re.compile(r"/(?:feed|comments/feed)(?:/(?:rss2?|atom|rdf))?/?")
_TERM = re.compile(r"/(category|tag)/(?:[^/]+/)*?([^/]+)/(feed/(?:[a-z0-9]+/)?)?")
_DATED = re.compile(r"/\d{4}/\d{2}/(?:\d{2}/)?([^/]+)/?")
#: A page's address (/about/, /about/contact/): its own slug comes last.
_SLUGGED = re.compile(r"/(?:[^/]+/){0,4}([^/]+)/")
_TAXONOMIES = {"category": "category", "tag": "post_tag"}
#: Longer addresses were never WordPress's permalinks.
MAX_PATH = 1000


def _post(*criteria) -> Post | None:
    """Return the visible post an imported WordPress item became, if any."""
    post_ids = session.scalars(
        select(WordPressPost.post_id)
        .where(*criteria)
        .order_by(WordPressPost.post_id.desc())
    ).all()
    for post_id in post_ids:
        post = session.get(Post, post_id)
        if post is not None and is_visible(post):
            return post
    return None


def by_id():
    """Answer ``/?p=123`` and ``/?page_id=123``, or None for other addresses.

    :raise 404: when no visible post came from that WordPress item.
    """
    raw = next(request.args[name] for name in ID_ARGUMENTS if name in request.args)
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        abort(404)
    post = _post(WordPressPost.wordpress_id == int(raw))
    if post is None:
        abort(404)
    return redirect(post_url(post), 301)


def asks_by_id() -> bool:
    """Tell whether the index is asked for by ``?p=`` or ``?page_id=``."""
    return any(name in request.args for name in ID_ARGUMENTS)


def old_address(path: str) -> str | None:
    """Return where a WordPress address is now, or None when it is no such address."""
    if len(path) > MAX_PATH or is_admin_path(path):
        return None
    if _FEED.fullmatch(path):
        return url_for("feeds.site")
    if term := _TERM.fullmatch(path):
        row = session.get(
            WordPressTerm,
            (_TAXONOMIES[term.group(1)], unquote(term.group(2)).lower()),
        )
        if row is None:
            return None
        endpoint = "feeds.tag" if term.group(3) else "blog.tag"
        return url_for(endpoint, name=row.tag_name)
    found = _DATED.fullmatch(path) or _SLUGGED.fullmatch(path)
    if found is None:
        return None
    slug = unquote(found.group(1)).lower()
    post = _post(WordPressPost.wordpress_slug == slug)
    return post_url(post) if post is not None else None


def not_found(error: NotFound):
    """Send an old WordPress address to its new one; render other 404s as usual."""
    try:
        target = old_address(request.path)
    except SQLAlchemyError as exc:
        # A database that cannot answer costs the redirect, not the 404 page.
        session.rollback()
        current_app.logger.warning("Old addresses not looked up: %s", exc)
        target = None
    if target is not None:
        return redirect(target, 301)
    return errors.handle_http_error(error)


def init_app(app: Flask) -> None:
    """Look up old WordPress addresses among the pages not found."""
    app.register_error_handler(404, not_found)

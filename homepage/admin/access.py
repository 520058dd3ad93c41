"""Which posts the logged-in author may work on: one check for every admin page."""

from __future__ import annotations

from flask import abort
from sqlalchemy.orm import selectinload

from ..core.models import Post
from ..db import session
from .auth import current_author


def find_post(post_id: int, trashed: bool = False) -> Post | None:
    """Return the post with ``post_id``, or None.

    :param trashed: look in the trash instead: a post there is found only
        with it, one outside only without it, so nothing edits a post in the
        trash and nothing restores one that is not.
    """
    # Inside write_transaction() the post loaded earlier in the request is
    # expired; get() loads it again under the lock, or returns None when it
    # was deleted meanwhile.
    post = session.get(Post, post_id, options=[selectinload(Post.tags)])
    if post is None or post.is_deleted != trashed:
        return None
    return post


def get_post(post_id: int, trashed: bool = False) -> Post:
    """Return the post with ``post_id`` if the logged-in author may work on it.

    :param trashed: as for :func:`find_post`.
    :raise 404: when there is none.
    :raise 403: when it is someone else's and the author's role allows only
        their own.
    """
    post = find_post(post_id, trashed)
    if post is None:
        abort(404)
    return require_may_change(post)


def require_may_change(post: Post) -> Post:
    """Return ``post`` if the logged-in author may work on it.

    :raise 403: when they may not.
    """
    # 403 rather than 404: post numbers are no secret in the admin, and
    # "not yours" tells an author why a link from a colleague fails.
    author = current_author()
    if author is None or not author.may_change(post.author_id):
        abort(403)
    return post

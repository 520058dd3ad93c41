"""Secret links that let anyone holding one read a draft or a scheduled post.

A link is a random token in an address; only its SHA-256 is stored, so the
database (or a backup of it) opens no draft, and the editor shows the full
link once, when it is made. Deleting the row revokes it.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..db import session
from .models import Post, ShareLink, token_hash, utcnow, visible_at

#: How a token looks in an address: what token_urlsafe(32) makes.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
#: The most live links one post may have; making more asks to revoke some.
MAX_LINKS_PER_POST = 20


def links_of(post_id: int) -> list[ShareLink]:
    """Return the live share links of a post, oldest first."""
    return list(
        session.scalars(
            select(ShareLink).where(ShareLink.post_id == post_id).order_by(ShareLink.id)
        )
    )


def create_link(post: Post, author_id: int | None) -> str | None:
    """Make a share link for ``post``; return its token, or None when it has too many.

    Call under the lock.
    """
    if len(links_of(post.id)) >= MAX_LINKS_PER_POST:
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        ShareLink(
            post_id=post.id,
            token_hash=token_hash(token),
            created_at=utcnow(),
            created_by_id=author_id,
        )
    )
    return token


def revoke_link(post_id: int, link_id: int) -> bool:
    """Revoke the share link ``link_id`` of post ``post_id``; tell whether it was there.

    Call under the lock.
    """
    link = session.get(ShareLink, link_id)
    if link is None or link.post_id != post_id:
        return False
    session.delete(link)
    return True


def shared_post(token: str) -> Post | None:
    """Return the post that ``token`` shares, or None.

    A post in the trash is shared by no link. Once the post is out, its own
    address is the one to use: see :func:`is_out`.
    """
    if not _TOKEN_RE.fullmatch(token):
        return None
    link = session.scalars(
        select(ShareLink)
        .where(ShareLink.token_hash == token_hash(token))
        .options(joinedload(ShareLink.post).joinedload(Post.author))
    ).first()
    if link is None:
        return None
    return None if link.post.is_deleted else link.post


def is_out(post: Post) -> bool:
    """Tell whether readers see ``post`` at its own address now."""
    return visible_at(post.status, post.published_at, utcnow(), post.deleted_at)

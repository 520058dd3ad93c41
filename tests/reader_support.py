"""Helpers shared by the reader-feature tests (feeds, search, SEO, caching, pages)."""

from __future__ import annotations

from sqlalchemy import select, update

from homepage.core import counts
from homepage.core.models import Post
from homepage.db import session


def edit_post(auth, app, current_slug: str, **fields):
    """Save the edit form of the post at ``current_slug``, changing ``fields``."""
    with app.app_context():
        post = session.scalars(select(Post).where(Post.slug == current_slug)).one()
        data = {
            "title": post.title,
            "slug": post.slug,
            "body": post.body,
            "summary": post.summary,
            "tags": ", ".join(tag.name for tag in post.tags),
            "status": post.status,
            "kind": post.kind,
            "published_at": post.published_at.strftime("%Y-%m-%dT%H:%M")
            if post.published_at
            else "",
            "action": "save",
        }
        path = f"/admin/posts/{post.id}/edit"
    return auth.post_form(path, **{**data, **fields})


def set_published_at(app, slug: str, when) -> None:
    """Move a post's publish date in the database, as time passing would.

    A bulk UPDATE does not go through the session's flush, so, like the clock,
    it changes what is due without counting as an edit; like every bulk
    statement on posts, it is followed by a recount of the months and tags.
    """
    with app.app_context():
        session.execute(update(Post).where(Post.slug == slug).values(published_at=when))
        counts.recount(session.connection())
        session.commit()

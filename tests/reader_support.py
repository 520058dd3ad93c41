"""Helpers shared by the reader-feature tests (feeds, search, SEO, caching, pages)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import insert, select, update

from homepage.core import counts
from homepage.core.models import (
    DRAFT,
    PAGE,
    POST,
    PUBLISHED,
    Author,
    Post,
    Tag,
    post_tags,
    utcnow,
)
from homepage.db import session, sqlite_path


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


def add_posts(app, count: int, *, tags: int = 3, start: datetime | None = None):
    """Insert ``count`` posts at once, as an import would; return every post's row.

    Every tenth is a draft and every tenth (offset by five) is scheduled; the
    rest are published, one hour apart, a third of them last edited a day
    after they were published and a third a day before; every seventh is a
    page. Each post gets one of ``tags`` tags.
    Core inserts skip the ORM and its flush hooks: the counts are made again
    here, but the content version does not move, so run this before the
    first request.
    """
    start = start or datetime(2020, 1, 1, tzinfo=UTC)
    with app.app_context():
        author_id = session.scalar(select(Author.id))
        tag_ids = [
            session.execute(insert(Tag).values(name=f"bulk-{n}")).inserted_primary_key[
                0
            ]
            for n in range(tags)
        ]
        rows = []
        for number in range(count):
            published = start + timedelta(hours=number)
            if number % 10 == 5:
                published = utcnow() + timedelta(days=30)
            rows.append(
                {
                    "title": f"Bulk {number}",
                    "slug": f"bulk-{number}",
                    "body": "Body.",
                    "body_html": "<p>Body.</p>",
                    "status": DRAFT if number % 10 == 9 else PUBLISHED,
                    "kind": PAGE if number % 7 == 6 else POST,
                    "author_id": author_id,
                    "created_at": published,
                    # Edited after it was published, or before (then due).
                    "updated_at": published + timedelta(days=number % 3 - 1),
                    "published_at": published,
                    "version": 1,
                }
            )
        if rows:
            session.execute(insert(Post), rows)
        ids = session.scalars(select(Post.id).order_by(Post.id)).all()
        if tag_ids and ids:
            links = [
                {"post_id": post_id, "tag_id": tag_ids[index % len(tag_ids)]}
                for index, post_id in enumerate(ids)
            ]
            session.execute(insert(post_tags), links)
        counts.recount(session.connection())
        session.commit()
        return session.execute(
            select(
                Post.id,
                Post.slug,
                Post.kind,
                Post.status,
                Post.published_at,
                Post.updated_at,
                Post.deleted_at,
            ).order_by(Post.id)
        ).all()


def query_plan(app: Flask, statement: str) -> str:
    """Return SQLite's plan for ``statement``, its steps joined by " | "."""
    database = sqlite3.connect(sqlite_path(app.config["DATABASE_URL"]))
    try:
        # The plan does not depend on the values; any will do.
        params = [None] * statement.count("?")
        plan = database.execute(f"EXPLAIN QUERY PLAN {statement}", params)
        return " | ".join(row[-1] for row in plan)
    finally:
        database.close()

"""Reader pages cost the database the same work at 100 posts as at 2,000, deep or not.

SQLite's virtual machine counts the steps each statement takes; a page whose
queries scan or skip rows in proportion to the blog (an OFFSET, a COUNT, a
GROUP BY over every post) takes many more steps in a bigger blog, however
fast the test machine is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import event, insert, select

from homepage.core.models import POST, PUBLISHED, Author, Post, Tag, post_tags
from homepage.core.schema import init_db
from homepage.db import get_engine, session
from homepage.reader.queries import Cursor

TAGS = 10
#: Steps between two calls of the progress handler: the unit of the counts.
STEP = 100


def fill(app: Flask, posts: int) -> None:
    """Publish ``posts`` posts an hour apart, ending yesterday, two tags each."""
    end = datetime.now(UTC) - timedelta(days=1)
    with app.app_context():
        author_id = session.scalars(select(Author.id)).first()
        session.execute(insert(Tag), [{"name": f"tag-{n}"} for n in range(TAGS)])
        tag_ids = session.scalars(select(Tag.id).order_by(Tag.id)).all()
        rows = [
            {
                "title": f"Post {n}",
                "slug": f"post-{n}",
                "body": "Body",
                "body_html": "<p>Body</p>",
                "summary_html": "<p>Body</p>",
                "status": PUBLISHED,
                "kind": POST,
                "author_id": author_id,
                "published_at": end - timedelta(hours=posts - n),
            }
            for n in range(posts)
        ]
        session.execute(insert(Post), rows)
        ids = session.scalars(select(Post.id).order_by(Post.id)).all()
        session.execute(
            insert(post_tags),
            [
                {"post_id": post_id, "tag_id": tag_ids[(n + k) % TAGS]}
                for n, post_id in enumerate(ids)
                for k in (0, 3)
            ],
        )
        # A tag only the oldest post has: a list page that must not walk
        # every newer post to find it.
        rare = session.execute(insert(Tag).values(name="rare")).inserted_primary_key
        session.execute(insert(post_tags).values(post_id=ids[0], tag_id=rare[0]))
        session.commit()
        # Bulk statements skip the flush hooks; init-db counts and indexes.
        init_db()


def paths(app: Flask, posts: int) -> dict[str, str]:
    """Return the pages to compare, by label, for a blog of ``posts`` posts."""
    with app.app_context():
        deep = session.scalars(
            select(Post).where(Post.slug == f"post-{posts // 10}")
        ).one()
        cursor = Cursor.of(deep)
        month = f"{deep.published_at.year}/{deep.published_at.month}"
    return {
        "index": "/",
        "index, deep": f"/?before={cursor}",
        "index, newer from deep": f"/?after={cursor}",
        "post": f"/posts/post-{posts // 2}",
        "tag": "/tags/tag-1",
        "tag, deep": f"/tags/tag-1?before={cursor}",
        "rare tag": "/tags/rare",
        "tags": "/tags",
        "archive": "/archive",
        "archive month": f"/archive/{month}",
        "feed": "/feed.atom",
        "tag feed": "/tags/tag-1/feed.atom",
        "rare tag feed": "/tags/rare/feed.atom",
        # RSS and JSON Feed: the same posts, read the same way.
        **{
            f"{label} ({ext})": f"{path[: -len('atom')]}{ext}"
            for label, path in (
                ("feed", "/feed.atom"),
                ("tag feed", "/tags/tag-1/feed.atom"),
                ("rare tag feed", "/tags/rare/feed.atom"),
            )
            for ext in ("rss", "json")
        },
    }


def steps(app: Flask, path: str) -> int:
    """Return the hundreds of SQLite VM steps that serving ``path`` took."""
    taken = 0

    def count() -> int:
        nonlocal taken
        taken += 1
        return 0  # go on

    def on_checkout(dbapi_connection, _record, _proxy) -> None:
        dbapi_connection.set_progress_handler(count, STEP)

    def on_checkin(dbapi_connection, _record) -> None:
        dbapi_connection.set_progress_handler(None, STEP)

    engine = get_engine(app)
    engine.dispose()  # every connection of this request is checked out anew
    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "checkin", on_checkin)
    try:
        response = app.test_client().get(path)
    finally:
        event.remove(engine, "checkout", on_checkout)
        event.remove(engine, "checkin", on_checkin)
    assert response.status_code == 200, path
    return taken


@pytest.mark.slow
@pytest.mark.sqlite  # counts SQLite's virtual machine steps
def test_every_page_costs_the_same_in_a_blog_twenty_times_bigger(make_app):
    blogs = {}
    for posts in (100, 2000):
        blogs[posts] = make_app(f"blog-{posts}.db", PAGE_CACHE_ENTRIES=0)
        fill(blogs[posts], posts)
    small_paths, large_paths = paths(blogs[100], 100), paths(blogs[2000], 2000)
    grown = {}
    for label in small_paths:
        small = steps(blogs[100], small_paths[label])
        large = steps(blogs[2000], large_paths[label])
        # Some growth is fair (a B-tree one level deeper, longer tag lists);
        # work in proportion to the blog would be about twenty times as much.
        if large > 1.5 * small + 20:
            grown[label] = f"{small} → {large} hundred steps"
    assert grown == {}

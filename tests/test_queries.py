"""Reader pages run a fixed number of SQL statements, however much they show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from homepage.core.models import PUBLISHED, Author, Post, Tag
from homepage.db import get_engine, session

from .support import recorded_queries

PAGES = [
    "/",
    "/posts/post-0",
    "/tags/tag-0",
    "/archive",
    "/?before=29990101000000000000-1",
]


def fill(app: Flask, posts: int, tags_per_post: int) -> None:
    """Publish ``posts`` posts, each with its own ``tags_per_post`` tags."""
    with app.app_context():
        author = session.get(Author, 1)
        shared = Tag(name="tag-0")
        now = datetime.now(UTC)
        for number in range(posts):
            tags = [shared] + [
                Tag(name=f"tag-{number}-{extra}") for extra in range(tags_per_post - 1)
            ]
            session.add(
                Post(
                    title=f"Post {number}",
                    slug=f"post-{number}",
                    body="Body",
                    body_html="<p>Body</p>",
                    summary_html="<p>Body</p>",
                    status=PUBLISHED,
                    author=author,
                    tags=tags,
                    published_at=now - timedelta(days=number * 40),
                )
            )
        session.commit()


def count_statements(app: Flask, path: str) -> int:
    with recorded_queries(get_engine(app)) as statements:
        response = app.test_client().get(path)
    assert response.status_code == 200, path
    return len(statements)


@pytest.mark.parametrize("path", PAGES)
def test_queries_do_not_grow_with_posts_and_tags(make_app, path):
    small = make_app("small.db")
    fill(small, posts=2, tags_per_post=1)
    large = make_app("large.db")
    fill(large, posts=30, tags_per_post=6)
    few = count_statements(small, path)
    many = count_statements(large, path)
    assert few == many
    assert many <= 7


@pytest.mark.parametrize(
    ("path", "statements"),
    [
        # Each statement alone, without a BEGIN (db.read_rows); every page
        # first reads the site's state for its validators.
        # The state; the stretch of posts with their tags.
        ("/", 2),
        # The state; the post with its author and tags; its neighbours.
        ("/posts/post-3", 3),
        # The state; the tag; the stretch with the posts' tags; the tag's count.
        ("/tags/tag-0", 4),
    ],
)
def test_a_page_the_cache_misses_costs_a_few_statements(make_app, path, statements):
    app = make_app(PAGE_CACHE_ENTRIES=0)
    fill(app, posts=30, tags_per_post=3)
    # The navigation's pages are read once per state of the content.
    assert app.test_client().get(path).status_code == 200

    assert count_statements(app, path) == statements

"""Reader queries find visible posts through an index, also in upgraded databases."""

from __future__ import annotations

import re
import sqlite3

import pytest
from flask import Flask
from sqlalchemy import event, inspect

from homepage.core import content
from homepage.core.models import utcnow
from homepage.core.schema import init_db, schema_is_current
from homepage.db import get_engine, prepare, sqlite_path

from .reader_support import query_plan

KIND_INDEX = "ix_posts_kind_status_published_at"


def statements_of(app: Flask, client, path: str) -> list[str]:
    """Return the SQL statements that serving ``path`` ran."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    engine = get_engine(app)
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


@pytest.mark.sqlite
@pytest.mark.parametrize("path", ["/", "/posts/hello", "/tags/news", "/archive"])
def test_reader_pages_select_visible_posts_through_the_kind_index(app, auth, path):
    auth.login()
    assert auth.create_post("Hello", tags="news").status_code == 302
    client = app.test_client()

    filtered = [
        statement
        for statement in statements_of(app, client, path)
        if "posts.kind = ?" in statement
    ]

    assert filtered, "the page ran no query on visible posts"
    database = sqlite3.connect(sqlite_path(app.config["DATABASE_URL"]))
    try:
        for statement in filtered:
            # The plan does not depend on the values; any will do.
            params = [None] * statement.count("?")
            plan = database.execute(f"EXPLAIN QUERY PLAN {statement}", params)
            details = " ".join(row[-1] for row in plan)
            assert KIND_INDEX in details, f"{statement}\n{details}"
    finally:
        database.close()


@pytest.mark.sqlite
def test_init_db_adds_a_missing_index_and_keeps_the_posts(app, auth):
    auth.login()
    assert auth.create_post("Kept").status_code == 302
    database = sqlite_path(app.config["DATABASE_URL"])
    # A database made before the index existed.
    with sqlite3.connect(database) as connection:
        connection.execute(f"DROP INDEX {KIND_INDEX}")
        # A database from before homepage used Alembic has no version table.
        connection.execute("DROP TABLE alembic_version")
    get_engine(app).dispose()
    with app.app_context():
        assert not schema_is_current()

        init_db()

        assert schema_is_current()
        names = {index["name"] for index in inspect(get_engine()).get_indexes("posts")}
        assert KIND_INDEX in names
    assert app.test_client().get("/posts/kept").status_code == 200


@pytest.mark.sqlite
def test_conditional_requests_find_the_newest_due_date_through_an_index(app):
    # Every 304 runs this one query, for posts and pages alike.
    query = prepare(content.STATE_SELECT, get_engine(app).dialect)
    database = sqlite3.connect(sqlite_path(app.config["DATABASE_URL"]))
    try:
        plan = database.execute(
            f"EXPLAIN QUERY PLAN {query.sql}", [None] * len(query.positions or ())
        )
        details = " ".join(row[-1] for row in plan)
    finally:
        database.close()
    assert "USING COVERING INDEX ix_posts_status_published_at" in details, details


@pytest.mark.sqlite
@pytest.mark.parametrize(
    "path",
    [
        "/sitemap.xml",
        "/sitemaps/lists.xml",
        "/sitemaps/posts-1.xml",
        "/sitemaps/tags-1.xml",
    ],
)
def test_sitemaps_read_posts_through_indexes_without_a_full_scan(app, auth, path):
    auth.login()
    assert auth.create_post("Hello", tags="news").status_code == 302
    assert auth.create_post("About", kind="page").status_code == 302
    client = app.test_client()

    statements = [s for s in statements_of(app, client, path) if "posts" in s]

    assert statements, "the sitemap read no posts"
    for statement in statements:
        plan = query_plan(app, statement)
        assert "SCAN posts" not in plan, f"{statement}\n{plan}"
        if "posts.id BETWEEN" in statement:
            # A range of ids is one seek and a walk along the index, which
            # holds every column a sitemap file reads.
            assert "USING COVERING INDEX ix_posts_status_id" in plan, plan
        if "post_tags" in statement:
            # A tag's newest post is one seek down the tag's own index.
            assert "ix_post_tags_tag_id_listed_at" in plan, plan
            assert "SCAN post_tags" not in plan, plan


def plans(app: Flask, statements: list[str]) -> dict[str, str]:
    """Return SQLite's query plan of each statement, as one line of details."""
    database = sqlite3.connect(sqlite_path(app.config["DATABASE_URL"]))
    try:
        return {
            statement: " | ".join(
                row[-1]
                for row in database.execute(
                    f"EXPLAIN QUERY PLAN {statement}", [None] * statement.count("?")
                )
            )
            for statement in statements
        }
    finally:
        database.close()


@pytest.mark.sqlite
def test_no_reader_page_reads_all_posts_or_sorts_them(app, auth):
    """Every list page reads a stretch of an index, whatever the blog's size."""
    auth.login()
    for number in range(12):
        auth.create_post(f"Post {number}", tags="news")
    auth.create_post("About", kind="page")
    client = app.test_client()
    older = re.search(r'rel="next" href="/\?before=([^"]+)"', client.get("/").text)
    assert older, "the index has no link to older posts"
    cursor = older.group(1)
    month = utcnow().strftime("%Y/%m").replace("/0", "/")
    paths = [
        "/",
        f"/?before={cursor}",
        f"/?after={cursor}",
        "/posts/post-5",
        "/tags/news",
        f"/tags/news?before={cursor}",
        "/tags",
        "/archive",
        f"/archive/{month}",
        "/feed.atom",
        "/feed.rss",
        "/feed.json",
        "/tags/news/feed.atom",
        "/tags/news/feed.rss",
        "/tags/news/feed.json",
    ]
    for path in paths:
        for statement, plan in plans(app, statements_of(app, client, path)).items():
            steps = plan.split(" | ")
            assert "SCAN posts" not in steps, f"{path}: {statement}\n{plan}"
            assert (
                not any(
                    step.startswith("USE TEMP B-TREE FOR ORDER BY") for step in steps
                )
                or "posts" not in statement.split("FROM", 1)[-1].split()[0]
            ), f"{path}: {statement}\n{plan}"


@pytest.mark.parametrize("feed", ["/feed", "/tags/news/feed"])
def test_every_feed_format_runs_the_statements_of_the_atom_feed(app, auth, feed):
    """RSS and JSON Feed read the same posts as Atom, in the same statements."""
    auth.login()
    for number in range(3):
        auth.create_post(f"Post {number}", tags="news, other")
    client = app.test_client()

    atom = statements_of(app, client, f"{feed}.atom")

    assert any("posts" in statement for statement in atom), atom
    for ext in ("rss", "json"):
        assert statements_of(app, client, f"{feed}.{ext}") == atom, ext

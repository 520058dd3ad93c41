"""The database layer: connection settings, transactions, sessions per thread."""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import UTC, datetime

import pytest
import requests
from flask import Flask
from sqlalchemy import bindparam, event, func, literal, select, text

from homepage.core import content, posts
from homepage.core.models import Author, Post, Tag, utcnow
from homepage.db import (
    DEFAULT_DATABASE_URL,
    PROJECT_ROOT,
    WRITER_LOCK_KEY,
    WriteOutsideTransaction,
    get_engine,
    read_rows,
    session,
    write_transaction,
)

from . import postgres
from .support import csrf_from, logged_in_browser, recorded_queries

#: What a writer's transaction sends first: SQLite's write lock, or
#: PostgreSQL's writer lock (outside a request, every transaction writes).
WRITER_BEGINS = (
    f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})"
    if postgres.selected()
    else "BEGIN IMMEDIATE"
)

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow


def statements_during(app: Flask, action) -> list[str]:
    """Run ``action`` and return the SQL statements it sent."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = get_engine(app)
    event.listen(engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_default_database_is_blog_db_at_the_project_root(make_app):
    app = make_app(bare=True, create=False, SECRET_KEY="x")
    assert DEFAULT_DATABASE_URL == f"sqlite:///{PROJECT_ROOT / 'blog.db'}"
    assert app.config["DATABASE_URL"] == DEFAULT_DATABASE_URL
    assert (PROJECT_ROOT / "homepage" / "db.py").exists()


def test_relative_database_paths_are_refused(make_app):
    with pytest.raises(RuntimeError, match="absolute path"):
        make_app(
            bare=True, create=False, SECRET_KEY="x", DATABASE_URL="sqlite:///blog.db"
        )


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("pragma", "expected"),
    [
        ("journal_mode", "wal"),
        ("synchronous", 1),  # NORMAL
        ("foreign_keys", 1),
        ("busy_timeout", 30000),
    ],
)
def test_every_connection_is_set_up_for_concurrency(app, pragma, expected):
    with app.app_context():
        assert session.execute(text(f"PRAGMA {pragma}")).scalar() == expected


def test_foreign_keys_are_enforced(app):
    with app.app_context():
        session.add(Post(title="t", slug="t", body="b", body_html="", author_id=999))
        with pytest.raises(Exception, match="(?i)foreign key"):
            session.commit()


def test_reads_begin_deferred_and_writes_begin_immediate(app, client, auth):
    # The front page's lone statements need no transaction (db.read_rows),
    # once its menu is known; the archive's reads run in a deferred one.
    client.get("/")
    with recorded_queries(get_engine(app), everything=True) as front_page:
        client.get("/?not-cached-yet")
    assert len(front_page) == 2
    assert all(sql.startswith("SELECT") for sql in front_page)
    reads = statements_during(app, lambda: client.get("/archive"))
    assert WRITER_BEGINS not in reads
    if not postgres.selected():  # psycopg begins by itself, unseen here
        assert reads[0] == "BEGIN"
    auth.login()
    form = {"title": "Written", "body": "b", "status": "draft", "action": "save"}
    form["csrf_token"] = auth.token("/admin/posts/new")
    sent = statements_during(app, lambda: client.post("/admin/posts/new", data=form))
    # The login check and validation read; only the write block takes the
    # write lock, and every write happens inside it.
    assert sent[0] != WRITER_BEGINS
    lock = sent.index(WRITER_BEGINS)
    writes = [
        i
        for i, sql in enumerate(sent)
        if sql.startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes and min(writes) > lock


def test_lone_reads_return_what_sqlalchemy_returns(app, auth):
    auth.login()
    auth.create_post("Hello", tags="b, a")
    auth.create_post("Draft", status="draft")
    table = Post.__table__.c
    by_slug = select(
        table.id,
        table.title,
        table.published_at,
        table.deleted_at,
        literal(True).label("flag"),
        select(func.count(Tag.id)).scalar_subquery().label("tags"),
    ).where(table.slug == bindparam("slug"), table.published_at <= bindparam("now"))
    with app.app_context():
        now = utcnow()
        for statement, params in [
            (content.STATE_SELECT, {"now": now}),
            (by_slug, {"slug": "hello", "now": now}),
            (by_slug, {"slug": "draft", "now": now}),
        ]:
            expected = session.execute(statement, params).all()
            got = read_rows(statement, params)
            assert [tuple(row) for row in got] == [tuple(row) for row in expected]
            assert [row._fields for row in got] == [row._fields for row in expected]
        hello = read_rows(by_slug, {"slug": "hello", "now": now})[0]
        # Dates come back aware, in UTC; booleans as booleans; NULL as None.
        assert hello.published_at.tzinfo is UTC
        assert (hello.flag, hello.deleted_at, hello.tags) == (True, None, 2)
        with pytest.raises(TypeError, match="now"):
            read_rows(by_slug, {"slug": "hello"})


def test_a_request_that_writes_outside_write_transaction_fails_at_once(app, client):
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False

    @app.post("/sneaky-write")
    def sneaky_write():
        session.add(Author(username="ghost", password_hash="x"))
        session.commit()
        return "written"

    with pytest.raises(WriteOutsideTransaction):
        client.post("/sneaky-write")
    with app.app_context():
        assert set(session.scalars(select(Author.username))) == {"alice"}


def test_write_transaction_sees_what_others_committed_meanwhile(app):
    with app.test_request_context("/admin/", method="POST"):
        alice = session.scalars(select(Author)).one()
        assert alice.username == "alice"
        # Another process renames her while this request does slow work.
        with get_engine(app).begin() as other:
            other.exec_driver_sql("UPDATE authors SET username = 'alicia'")
        with write_transaction():
            assert alice.username == "alicia"
            alice.username = "alice b."
    with app.app_context():
        assert session.scalars(select(Author.username)).one() == "alice b."


def test_write_transaction_rolls_back_when_its_block_fails(app):
    with app.test_request_context("/admin/", method="POST"):
        with pytest.raises(RuntimeError, match="half way"):
            with write_transaction():
                session.add(Author(username="ghost", password_hash="x"))
                session.flush()
                raise RuntimeError("half way")
    with app.app_context():
        assert set(session.scalars(select(Author.username))) == {"alice"}


def test_selects_run_inside_the_transaction(app):
    # SQLAlchemy's pysqlite default would leave SELECTs outside any
    # transaction; here the first statement of a session is our BEGIN.
    with app.app_context():
        sent = statements_during(app, lambda: session.scalars(select(Author)).all())
    assert sent[0] == WRITER_BEGINS
    assert sent[1].startswith("SELECT")


def test_each_thread_gets_its_own_session(app):
    seen = {}

    def grab(name):
        with app.app_context():
            # Keep the session itself: once a finished thread's session is
            # garbage, a later thread's may get the same id().
            seen[name] = session()

    with app.app_context():
        main = session()
        assert session() is main
        threads = [threading.Thread(target=grab, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len({id(each) for each in seen.values()} | {id(main)}) == 5


def test_requests_return_their_connection_and_session(app, client, auth):
    auth.login()
    auth.create_post("Pooled")
    for path in ("/", "/posts/pooled", "/archive", "/admin/", "/missing"):
        client.get(path)
        assert get_engine(app).pool.checkedout() == 0
        assert not session.registry.has()


def test_app_context_teardown_returns_the_connection(app):
    with app.app_context():
        session.execute(text("SELECT 1"))
        assert get_engine(app).pool.checkedout() == 1
    assert get_engine(app).pool.checkedout() == 0


def test_a_failing_request_rolls_back(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.post("/explode")
    def explode():
        session.add(Author(username="ghost", password_hash="x"))
        session.flush()
        raise RuntimeError("boom")

    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    response = client.post("/explode")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.get_data(as_text=True)
    with app.app_context():
        names = set(session.scalars(select(Author.username)))
    assert names == {"alice"}
    assert get_engine(app).pool.checkedout() == 0


def test_read_modify_write_loses_no_updates(app):
    """Ten writers increment one counter at once; every increment counts."""
    with app.app_context():
        post = Post(
            title="counter", slug="counter", body="0", body_html="", author_id=1
        )
        session.add(post)
        session.commit()
        post_id = post.id
    errors = []

    def increment():
        try:
            with (
                app.test_request_context("/admin/", method="POST"),
                write_transaction(),
            ):
                counter = session.get(Post, post_id)
                value = int(counter.body)
                time.sleep(0.01)  # widen the window a lost update needs
                counter.body = str(value + 1)
        except Exception as error:  # noqa: BLE001 - any failure fails the test
            errors.append(error)

    threads = [threading.Thread(target=increment) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context():
        assert session.get(Post, post_id).body == "10"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_does_not_reuse_the_parents_connections(app):
    with app.app_context():
        session.execute(text("SELECT 1"))
    engine = get_engine(app)
    assert engine.pool.checkedin() >= 1
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(read_end)
            idle = engine.pool.checkedin()
            with app.app_context():
                works = session.execute(text("SELECT 1")).scalar() == 1
            os.write(write_end, f"{idle} {works}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        assert pipe.read() == "0 True"


def test_dates_come_back_in_utc(app):
    with app.app_context():
        author = session.get(Author, 1)
        assert author.created_at.tzinfo is UTC
        assert author.created_at <= datetime.now(UTC)


def test_an_in_memory_database_works_for_experiments():
    from homepage.db import make_engine

    engine = make_engine("sqlite://")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()


def test_the_pool_has_the_configured_size(make_app):
    app = make_app(create=False, DATABASE_POOL_SIZE=7, DATABASE_MAX_OVERFLOW=3)
    pool = get_engine(app).pool
    assert pool.size() == 7
    # Ten threads may hold a connection at once (pool plus overflow).
    held = [get_engine(app).connect() for _ in range(10)]
    assert pool.checkedout() == 10
    for connection in held:
        connection.close()


def test_readers_are_served_while_a_writer_holds_its_transaction(app, server, auth):
    auth.login()
    auth.create_post("Readable")
    # Outside a request every transaction begins as a writer: SQLite's write
    # lock, PostgreSQL's writer lock (and the row's).
    with get_engine(app).connect() as writer:
        writer.execute(text("UPDATE site_state SET version = version + 1"))
        answers: list[int] = []

        def read(path: str) -> None:
            # A reader that had to wait for the writer would time out here.
            answers.append(requests.get(f"{server}{path}", timeout=20).status_code)

        paths = ["/", "/posts/readable", "/archive", "/feed.atom"] * 3
        threads = [threading.Thread(target=read, args=(path,)) for path in paths]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert answers == [200] * len(paths)
        writer.rollback()


@pytest.mark.postgresql
def test_racing_new_posts_with_one_title_and_a_new_tag_all_save(
    app, server, monkeypatch
):
    """Writers queue on the writer lock, so each sees the slugs and tags before it.

    Under READ COMMITTED, two saves without the lock would both find the slug
    "same" and the tag "fresh" free and both insert them: one of them would
    fail on the unique constraint.
    """
    writers = 8
    looked_up = posts.get_or_create_tags

    def slow_lookup(names: list[str]) -> list:
        tags = looked_up(names)
        time.sleep(0.05)  # widen the window between reading and inserting
        return tags

    monkeypatch.setattr(posts, "get_or_create_tags", slow_lookup)
    browsers = [logged_in_browser(server) for _ in range(writers)]
    tokens = [
        csrf_from(browser.get(f"{server}/admin/posts/new", timeout=30).text)
        for browser in browsers
    ]
    start = threading.Barrier(writers)
    statuses: list[int] = []

    def write(browser: requests.Session, token: str) -> None:
        start.wait()
        response = browser.post(
            f"{server}/admin/posts/new",
            data={
                "csrf_token": token,
                "title": "Same",
                "body": "A body.",
                "tags": "fresh",
                "status": "published",
                "action": "save",
            },
            allow_redirects=False,
            timeout=60,
        )
        statuses.append(response.status_code)

    threads = [
        threading.Thread(target=write, args=pair)
        for pair in zip(browsers, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert statuses == [302] * writers
    with app.app_context():
        slugs = set(session.scalars(select(Post.slug)))
        tags = session.scalars(select(Tag)).all()
    assert slugs == {"same"} | {f"same-{n}" for n in range(2, writers + 1)}
    assert [tag.name for tag in tags] == ["fresh"]
    tag_page = requests.get(f"{server}/tags/fresh", timeout=30).text
    assert set(re.findall(r'href="/posts/(same[-\d]*)"', tag_page)) == slugs


@pytest.mark.postgresql
def test_a_save_waits_for_the_writer_lock_and_a_read_does_not(app, server):
    browser = logged_in_browser(server)
    token = csrf_from(browser.get(f"{server}/admin/posts/new", timeout=30).text)
    saved: list[int] = []

    def save() -> None:
        response = browser.post(
            f"{server}/admin/posts/new",
            data={"csrf_token": token, "title": "Queued", "body": "A body."}
            | {"tags": "", "status": "published", "action": "save"},
            allow_redirects=False,
            timeout=60,
        )
        saved.append(response.status_code)

    # Another process's writer, holding the lock in its transaction.
    with get_engine(app).connect() as other:
        other.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITER_LOCK_KEY}
        )
        writer = threading.Thread(target=save)
        writer.start()
        writer.join(timeout=1)
        assert writer.is_alive() and saved == []  # queued behind the lock
        for path in ("/", "/archive", "/feed.atom"):
            assert requests.get(f"{server}{path}", timeout=10).status_code == 200
        other.rollback()  # releases the lock
    writer.join(timeout=30)
    assert saved == [302]
    assert "Queued" in requests.get(f"{server}/", timeout=10).text

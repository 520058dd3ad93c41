"""Many readers and writers at once, through a real threaded HTTP server."""

from __future__ import annotations

import importlib
import io
import re
import sqlite3
import threading
from collections import Counter

import PIL.Image
import pytest
import requests
from sqlalchemy import func, select

from homepage.core.models import Image, Post, Tag
from homepage.db import WRITER_LOCK_KEY, get_engine, session, sqlite_path

from .support import PASSWORD, csrf_from, logged_in_browser

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow

WRITERS = 8
READERS = 10
POSTS_PER_WRITER = 5
READS_PER_READER = 25


def test_readers_and_writers_at_once(app, server, runner):
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    created: list[str] = []
    lock = threading.Lock()
    # Log in before the race, so every thread starts together.
    browsers = [logged_in_browser(server) for _ in range(WRITERS)]
    start = threading.Barrier(WRITERS + READERS)

    def record(response: requests.Response) -> None:
        with lock:
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append(f"{response.url}: {response.status_code}")

    def write(browser: requests.Session) -> None:
        try:
            start.wait()
            for _ in range(POSTS_PER_WRITER):
                token = csrf_from(browser.get(f"{server}/admin/posts/new").text)
                response = browser.post(
                    f"{server}/admin/posts/new",
                    data={
                        "csrf_token": token,
                        "title": "Same title",
                        "body": "Written in a crowd.",
                        "tags": "brand-new-tag, Crowd",
                        "status": "published",
                        "action": "save",
                    },
                    allow_redirects=False,
                    timeout=60,
                )
                record(response)
                if response.status_code == 302:
                    with lock:
                        created.append(response.headers["Location"])
                else:
                    failures.append(f"create: {response.status_code}")
        except Exception as error:  # noqa: BLE001 - every failure is counted
            failures.append(repr(error))

    def read() -> None:
        try:
            start.wait()
            reader = requests.Session()
            for number in range(READS_PER_READER):
                path = ["/", "/archive", "/tags/brand-new-tag", "/posts/same-title"][
                    number % 4
                ]
                response = reader.get(f"{server}{path}", timeout=60)
                record(response)
                if response.status_code not in (200, 404):
                    failures.append(f"{path}: {response.status_code}")
        except Exception as error:  # noqa: BLE001
            failures.append(repr(error))

    threads = [threading.Thread(target=write, args=(b,)) for b in browsers]
    threads += [threading.Thread(target=read) for _ in range(READERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)

    assert failures == []
    assert len(created) == WRITERS * POSTS_PER_WRITER
    with app.app_context():
        slugs = list(session.scalars(select(Post.slug)))
        assert len(slugs) == WRITERS * POSTS_PER_WRITER
        assert len(set(slugs)) == len(slugs)
        assert "same-title" in slugs
        assert all(re.fullmatch(r"same-title(-\d+)?", slug) for slug in slugs)
        tags = Counter(session.scalars(select(Tag.name)))
        assert tags == {"brand-new-tag": 1, "crowd": 1}
        tagged = session.execute(
            select(func.count()).select_from(Post).where(Post.tags.any())
        ).scalar_one()
        assert tagged == len(slugs)
    # Every post a writer was sent to is really there.
    ids = {int(location.split("/")[3]) for location in created}
    with app.app_context():
        assert ids == set(session.scalars(select(Post.id)))

    # Every request handed its connection back, and so does a CLI command.
    assert get_engine(app).pool.checkedout() == 0
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert get_engine(app).pool.checkedout() == 0


# -- slow work never holds the write lock --------------------------------------


class Gate:
    """Hold every call of a function until released, to look at the database then."""

    def __init__(self, monkeypatch, target: str) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        module_name, name = target.rsplit(".", 1)
        original = getattr(importlib.import_module(module_name), name)

        def held(*args, **kwargs):
            self.entered.set()
            self.release.wait(timeout=30)
            return original(*args, **kwargs)

        monkeypatch.setattr(target, held)


def another_writer_can_write(app) -> bool:
    """Tell whether another process could take the write lock right now."""
    engine = get_engine(app)
    if engine.dialect.name == "postgresql":
        # A DB-API connection: SQLAlchemy's begin event would wait for the lock.
        other_pg = engine.raw_connection()
        try:
            cursor = other_pg.cursor()
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", (WRITER_LOCK_KEY,))
            return bool(cursor.fetchone()[0])
        finally:
            other_pg.rollback()
            other_pg.close()
    path = sqlite_path(app.config["DATABASE_URL"])
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


def while_held(gate: Gate, app, request) -> tuple[bool, requests.Response]:
    """Send ``request`` in a thread; return whether others could write meanwhile."""
    answer: list[requests.Response] = []
    thread = threading.Thread(target=lambda: answer.append(request()))
    thread.start()
    assert gate.entered.wait(timeout=30), "the slow step never ran"
    free = another_writer_can_write(app)
    gate.release.set()
    thread.join(timeout=60)
    return free, answer[0]


def submit(browser: requests.Session, page: str, target: str = "", **fields):
    """Fill in the form on ``page`` and send it to ``target`` (or back to ``page``)."""
    token = csrf_from(browser.get(page, timeout=60).text)
    return browser.post(
        target or page,
        data={"csrf_token": token, **fields},
        allow_redirects=False,
        timeout=60,
    )


def test_rendering_a_post_leaves_other_writers_free(app, server, monkeypatch):
    browser = logged_in_browser(server)
    gate = Gate(monkeypatch, "homepage.core.markdown.render")
    free, response = while_held(
        gate,
        app,
        lambda: submit(
            browser,
            f"{server}/admin/posts/new",
            title="Slow to render",
            body="A body that takes long to render.",
            status="published",
            action="save",
        ),
    )
    assert free
    assert response.status_code == 302
    with app.app_context():
        assert session.scalars(select(Post.title)).all() == ["Slow to render"]


def test_checking_a_password_leaves_other_writers_free(app, server, monkeypatch):
    browser = requests.Session()
    gate = Gate(monkeypatch, "homepage.core.authors.check_password_hash")
    free, response = while_held(
        gate,
        app,
        lambda: submit(
            browser, f"{server}/admin/login", username="alice", password=PASSWORD
        ),
    )
    assert free
    assert response.status_code == 302
    assert browser.get(f"{server}/admin/", timeout=30).status_code == 200


def test_changing_a_password_leaves_other_writers_free(app, server, monkeypatch):
    browser = logged_in_browser(server)
    gate = Gate(monkeypatch, "homepage.core.authors.check_password_hash")
    free, response = while_held(
        gate,
        app,
        lambda: submit(
            browser,
            f"{server}/admin/account/",
            f"{server}/admin/account/password",
            current_password=PASSWORD,
            new_password="a new long password",
            confirm_password="a new long password",
        ),
    )
    assert free
    assert response.status_code == 302
    assert logged_in_browser(server, "a new long password")


def test_many_logins_at_once_never_fail(server):
    """Logins queue for the lock only to count attempts, not while hashing."""
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    start = threading.Barrier(30)

    def log_in() -> None:
        try:
            browser = requests.Session()
            token = csrf_from(browser.get(f"{server}/admin/login", timeout=60).text)
            start.wait()
            response = browser.post(
                f"{server}/admin/login",
                data={"username": "alice", "password": PASSWORD, "csrf_token": token},
                allow_redirects=False,
                timeout=60,
            )
            statuses[response.status_code] += 1
        except Exception as error:  # noqa: BLE001 - every failure is counted
            failures.append(repr(error))

    threads = [threading.Thread(target=log_in) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    # Each attempt counts until its password proves right, so a flood from
    # one address may be slowed down (429); it never fails.
    assert set(statuses) <= {302, 429}
    assert statuses[302] >= 1


def test_hostile_saves_never_make_other_authors_fail(app, server):
    """Bodies built to render slowly are refused unread; everyone else saves."""
    hostile = "![" * 500_000
    statuses: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    browsers = [logged_in_browser(server) for _ in range(6)]
    start = threading.Barrier(len(browsers))

    def save(browser: requests.Session, kind: str, body: str) -> None:
        try:
            token = csrf_from(browser.get(f"{server}/admin/posts/new").text)
            start.wait()
            for _ in range(3):
                response = browser.post(
                    f"{server}/admin/posts/new",
                    data={
                        "csrf_token": token,
                        "title": kind,
                        "body": body,
                        "status": "published",
                        "action": "save",
                    },
                    allow_redirects=False,
                    timeout=60,
                )
                statuses[kind, response.status_code] += 1
        except Exception as error:  # noqa: BLE001 - every failure is counted
            failures.append(repr(error))

    threads = [
        threading.Thread(
            target=save,
            args=(browser, *(("hostile", hostile) if n < 3 else ("honest", "Hi."))),
        )
        for n, browser in enumerate(browsers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert statuses == {("hostile", 400): 9, ("honest", 302): 9}
    with app.app_context():
        assert session.scalars(select(Post.title)).all() == ["honest"] * 9


def test_decoding_an_upload_leaves_other_writers_free(app, server, monkeypatch):
    browser = logged_in_browser(server)
    token = csrf_from(browser.get(f"{server}/admin/images/").text)
    png = io.BytesIO()
    PIL.Image.new("RGB", (8, 8), "teal").save(png, "PNG")
    gate = Gate(monkeypatch, "homepage.core.images.clean")
    free, response = while_held(
        gate,
        app,
        lambda: browser.post(
            f"{server}/admin/images/",
            data={"csrf_token": token, "alt": "teal"},
            files={"image": ("teal.png", png.getvalue(), "image/png")},
            allow_redirects=False,
            timeout=60,
        ),
    )
    assert free
    assert response.status_code == 302
    with app.app_context():
        assert session.scalars(select(Image.original_name)).all() == ["teal.png"]

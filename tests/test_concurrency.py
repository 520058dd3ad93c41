"""Many readers and writers at once, through a real threaded HTTP server."""

from __future__ import annotations

import re
import threading
from collections import Counter

import requests
from sqlalchemy import func, select

from homepage.db import get_engine, session
from homepage.models import Post, Tag

from .conftest import csrf_from, logged_in_browser

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

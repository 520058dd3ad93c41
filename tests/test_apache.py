"""The blog under the real server: Apache mod_wsgi, several processes and threads.

A module fixture starts ``mod_wsgi-express`` on a loopback port against a temporary
database; the tests then read and write through HTTP like readers and authors do,
and look at the database file afterwards. Every load loop is bounded in requests and
in time, and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from homepage import create_app
from homepage.core.authors import create_author
from homepage.core.models import PUBLISHED, Author, Post, Tag, utcnow
from homepage.core.schema import init_db
from homepage.db import (
    JOURNAL_SIZE_LIMIT,
    WRITER_LOCK_KEY,
    get_engine,
    make_engine,
    session,
)

from . import postgres
from .modwsgi import (
    PROJECT_ROOT,
    ConfiguredServer,
    ModWsgiServer,
    ServerError,
    give_to_server,
    log_in,
    make_data_dir,
    serving_user,
)
from .support import PASSWORD, version_from

# These tests start Apache with mod_wsgi-express; make test-fast leaves them out.
pytestmark = pytest.mark.apache

PROCESSES = 3
THREADS = 8
# Letters keep Flask's FLASK_* parsing from reading the key as a JSON number.
SECRET_KEY = "apache-test-key-" + "x" * 48
SEED_TAGS = ("apache", "sqlite")
SEED_POSTS = 12
_EDIT_LOCATION = re.compile(r"/admin/posts/(\d+)/edit$")


@dataclass
class Site:
    """The running server and the database behind it (a file on SQLite)."""

    server: ModWsgiServer
    database: Path
    database_url: str

    @property
    def url(self) -> str:
        return self.server.url

    def query(self, sql: str, *params) -> list[tuple]:
        """Run a read-only query on the database, as the test's own reader."""
        if postgres.selected():
            # A DB-API connection of its own: no writer lock, no pool.
            engine = make_engine(self.database_url, pool_size=1, max_overflow=0)
            try:
                connection = engine.raw_connection()
                try:
                    cursor = connection.cursor()
                    cursor.execute(sql.replace("?", "%s"), params or None)
                    return [tuple(row) for row in cursor.fetchall()]
                finally:
                    connection.rollback()
                    connection.close()
            finally:
                engine.dispose()
        # The daemons keep their pooled connections open, so the -wal and -shm
        # files (owned by the serving user) exist and this connection, even as
        # root, never creates them with the wrong owner.
        connection = sqlite3.connect(self.database, timeout=30)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()


def seed(url: str) -> None:
    """Create the schema, the author alice and a few published, tagged posts."""
    app = create_app({"SECRET_KEY": SECRET_KEY, "DATABASE_URL": url})
    with app.app_context():
        init_db()
        author: Author = create_author("alice", PASSWORD)
        tags = [Tag(name=name) for name in SEED_TAGS]
        for number in range(SEED_POSTS):
            body = f"Seeded post number {number}."
            session.add(
                Post(
                    title=f"Seeded post {number}",
                    slug=f"seeded-post-{number}",
                    body=body,
                    body_html=f"<p>{body}</p>",
                    summary_html=f"<p>{body}</p>",
                    status=PUBLISHED,
                    author=author,
                    tags=tags,
                    published_at=utcnow() - timedelta(days=40 * number),
                )
            )
        session.commit()
    # Closing the last connection removes -wal and -shm, so the serving user
    # creates its own instead of finding root's.
    get_engine(app).dispose()


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    """Serve the blog under mod_wsgi-express, 3 processes x 8 threads."""
    data = make_data_dir("homepage-apache-")
    database = data / "blog.db"
    url = f"sqlite:///{database}"
    cluster = None
    if postgres.selected():
        # One database for the module's tests, as the server is.
        cluster = request.getfixturevalue("postgres_cluster")
        template = request.getfixturevalue("postgres_template")
        url = cluster.create_database("apache_site", template)
    seed(url)
    give_to_server(data)
    server = ModWsgiServer(
        PROJECT_ROOT / "homepage.wsgi",
        data,
        processes=PROCESSES,
        threads=THREADS,
        env={
            "FLASK_DATABASE_URL": url,
            "FLASK_SECRET_KEY": SECRET_KEY,
            # An empty instance folder, so a developer's instance/config.py
            # cannot point the server at the real blog.
            "HOMEPAGE_INSTANCE_PATH": str(data / "instance"),
        },
    )
    try:
        server.start()
    except ServerError as error:
        shutil.rmtree(data, ignore_errors=True)
        pytest.fail(str(error), pytrace=False)
    try:
        yield Site(server, database, url)
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
        if cluster is not None:
            cluster.drop_database("apache_site")


class Writer:
    """An author's browser: a logged-in session that submits the post form."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http, self.token = log_in(url, "alice", PASSWORD)

    def save(
        self, path: str, title: str, body: str, tags: str = ""
    ) -> requests.Response:
        """Submit the post form to ``path`` and return the answer."""
        data = {
            "title": title,
            "slug": "",
            "body": body,
            "summary": "",
            "tags": tags,
            "status": "published",
            "action": "save",
            "csrf_token": self.token,
        }
        if path.endswith("/edit"):
            # An edit form carries the version of the post it was opened at.
            opened = self.http.get(self.url + path, timeout=60)
            data["version"] = version_from(opened.text)
        return self.http.post(
            self.url + path, data=data, allow_redirects=False, timeout=60
        )

    def create(self, title: str, body: str, tags: str = "") -> int | None:
        """Create a post; return its id when the server confirmed the save."""
        response = self.save("/admin/posts/new", title, body, tags)
        statuses.record("POST new", response.status_code)
        if response.status_code != 302:
            return None
        match = _EDIT_LOCATION.search(response.headers["Location"])
        assert match, response.headers["Location"]
        return int(match.group(1))


class StatusLog:
    """Every status code the load produced, counted per kind of request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, int]] = Counter()

    def record(self, kind: str, status: int) -> None:
        with self._lock:
            self.counts[kind, status] += 1

    def server_errors(self) -> dict[tuple[str, int], int]:
        return {key: n for key, n in self.counts.items() if key[1] >= 500}

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()


statuses = StatusLog()


@dataclass
class Readers:
    """Threads that browse the site like readers until told to stop."""

    url: str
    count: int = 6
    max_requests: int = 400
    stop: threading.Event = field(default_factory=threading.Event)
    paths: tuple[str, ...] = (
        "/",
        "/posts/seeded-post-0",
        "/tags/apache",
        "/archive",
        "/?before=29990101000000000000-1",
        "/posts/seeded-post-7",
        "/tags/sqlite",
    )

    def _browse(self, offset: int) -> None:
        http = requests.Session()
        for number in range(self.max_requests):
            if self.stop.is_set():
                return
            path = self.paths[(number + offset) % len(self.paths)]
            statuses.record(
                f"GET {path}", http.get(self.url + path, timeout=60).status_code
            )

    def run_while(self, work: Callable[[], None]) -> None:
        """Browse in the background while ``work`` runs, then stop browsing."""
        with ThreadPoolExecutor(self.count) as pool:
            futures = [pool.submit(self._browse, n) for n in range(self.count)]
            try:
                work()
            finally:
                self.stop.set()
            for future in futures:
                future.result()


def assert_database_intact(site: Site) -> None:
    if postgres.selected():
        # PostgreSQL's own checks hold the data to its constraints; what a
        # crash could leave is a row the rules forbid, which none may be.
        assert site.query("SELECT count(*) FROM posts WHERE slug = ''") == [(0,)]
        return
    assert site.query("PRAGMA integrity_check") == [("ok",)]


def assert_no_python_errors(site: Site) -> None:
    assert site.server.python_tracebacks() == [], site.server.error_log()


def test_readers_and_writers_at_once_see_no_server_errors(site: Site):
    """Readers browse while authors publish, many with one title and new tags."""
    statuses.reset()
    authors = [Writer(site.url) for _ in range(6)]
    rounds = 4
    crowd: dict[int, list[int | None]] = {}
    edited: dict[int, str] = {}

    def crowd_round(number: int) -> None:
        # Every author submits at the same instant: the same title, the same
        # two tags that do not exist yet.
        barrier = threading.Barrier(len(authors))
        tags = f"crowd-{number}, Shared Topic {number}"

        def submit(author: Writer) -> int | None:
            barrier.wait(timeout=30)
            return author.create("Same title", f"Crowd {number}.", tags)

        with ThreadPoolExecutor(len(authors)) as pool:
            crowd[number] = list(pool.map(submit, authors))

    def own_posts(author: Writer, index: int) -> None:
        for number in range(3):
            post_id = author.create(f"Post {index}.{number}", "First draft.", "solo")
            assert post_id is not None
            for version in range(2):
                body = f"Version {version} of post {index}.{number}."
                response = author.save(
                    f"/admin/posts/{post_id}/edit", f"Post {index}.{number}", body
                )
                statuses.record("POST edit", response.status_code)
                assert response.status_code == 302
                edited[post_id] = body

    def write() -> None:
        for number in range(rounds):
            crowd_round(number)
        with ThreadPoolExecutor(len(authors)) as pool:
            list(pool.map(own_posts, authors, range(len(authors))))

    Readers(site.url).run_while(write)

    assert statuses.server_errors() == {}
    reads = {key: n for key, n in statuses.counts.items() if key[0].startswith("GET")}
    assert reads and {status for _path, status in reads} == {200}
    for number, ids in crowd.items():
        assert None not in ids, f"a crowd post was refused in round {number}"
        rows = site.query(
            "SELECT p.id, p.slug FROM posts p JOIN post_tags pt ON pt.post_id = p.id"
            " JOIN tags t ON t.id = pt.tag_id WHERE t.name = ?",
            f"crowd-{number}",
        )
        assert sorted(row[0] for row in rows) == sorted(ids)
        for name in (f"crowd-{number}", f"shared topic {number}"):
            assert site.query("SELECT count(*) FROM tags WHERE name = ?", name) == [
                (1,)
            ]
    slugs = [
        row[0]
        for row in site.query("SELECT slug FROM posts WHERE title = ?", "Same title")
    ]
    assert len(slugs) == rounds * len(authors) == len(set(slugs))
    for post_id, body in edited.items():
        assert site.query("SELECT body FROM posts WHERE id = ?", post_id) == [(body,)]
    # Readers see every crowd post under its own address.
    for slug in slugs:
        page = requests.get(f"{site.url}/posts/{slug}", timeout=30)
        assert page.status_code == 200 and "Same title" in page.text
    assert_database_intact(site)
    assert_no_python_errors(site)


#: SQLite's WAL write lock: a POSIX lock on byte 120 of the -shm file, held from
#: BEGIN IMMEDIATE to COMMIT (sqlite3 source, wal.c: WALINDEX_LOCK_OFFSET).
WAL_WRITE_LOCK_BYTE = 120


def writing_process(site: Site) -> int | None:
    """Return the process that holds the database's write lock right now."""
    if postgres.selected():
        # The writer lock's holder, by the name each process gives its
        # connections (db._name_the_process).
        holders = site.query(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.objid = ?",
            WRITER_LOCK_KEY,
        )
        for (name,) in holders:
            if found := re.fullmatch(r"homepage\[(\d+)\]", name or ""):
                return int(found.group(1))
        return None
    database = site.database
    inode = database.with_name(database.name + "-shm").stat().st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        # "1: POSIX  ADVISORY  WRITE 4242 fd:00:1234 120 120"; waiters say "->".
        fields = line.split()
        if "->" in fields or fields[1] != "POSIX" or fields[3] != "WRITE":
            continue
        if fields[5].endswith(f":{inode}") and fields[6] == str(WAL_WRITE_LOCK_BYTE):
            return int(fields[4])
    return None


def test_a_killed_daemon_loses_no_confirmed_write(site: Site):
    """SIGKILL the daemon that is writing; every confirmed post survives."""
    statuses.reset()
    authors = [Writer(site.url) for _ in range(4)]
    # Rendering runs before the write lock; what keeps a daemon holding it
    # much of the time is writing a large body, its HTML and its search index.
    body = ("A sentence that takes a moment to store. " * 50 + "\n\n") * 100
    confirmed: dict[int, str] = {}
    interrupted = Counter()
    lock = threading.Lock()
    killed = threading.Event()
    after_kill = Counter()
    done = threading.Event()
    deadline = time.monotonic() + 40

    def write(index: int) -> None:
        author = authors[index]
        for number in range(300):
            if done.is_set() or time.monotonic() > deadline:
                return
            marker = f"kill-test {index}.{number}\n\n"
            try:
                post_id = author.create(
                    f"Crash {index}.{number}", marker + body, "crash"
                )
            except requests.RequestException as error:
                post_id, failure = None, type(error).__name__
            else:
                failure = "no redirect"
            with lock:
                if post_id is None:
                    # The daemon died under this request: never confirmed.
                    interrupted[failure] += 1
                    continue
                confirmed[post_id] = marker
                if killed.is_set():
                    after_kill[index] += 1

    with ThreadPoolExecutor(len(authors)) as pool:
        futures = [pool.submit(write, n) for n in range(len(authors))]
        while len(confirmed) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        # The lock holder may be checkpointing the WAL after a response it
        # already sent; then the kill interrupts no save, and another daemon
        # is killed, mid-save this time, at most three times in all.
        for _attempt in range(3):
            daemons = site.server.daemon_pids()
            victim = None
            while victim not in daemons and time.monotonic() < deadline:
                victim = writing_process(site)
            assert victim in daemons, "no daemon was seen holding the write lock"
            os.kill(victim, signal.SIGKILL)
            killed.set()
            site.server.wait_for_daemons(without=[victim])
            time.sleep(0.5)  # let the clients of the dead daemon see it
            with lock:
                if sum(interrupted.values()):
                    break
        # Keep writing until the new daemons have confirmed plenty more.
        while sum(after_kill.values()) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        done.set()
        for future in futures:
            future.result()

    # The request that held the lock died with the daemon, unanswered.
    assert sum(interrupted.values()) >= 1
    assert sum(after_kill.values()) >= 20, "writes did not resume after the kill"
    stored = {
        post_id: body.split("\n\n")[0] + "\n\n"
        for post_id, body in site.query(
            "SELECT id, body FROM posts WHERE body LIKE 'kill-test %'"
        )
    }
    missing = {pid: body for pid, body in confirmed.items() if stored.get(pid) != body}
    assert missing == {}
    assert_database_intact(site)
    for path in ("/", "/archive", "/tags/crash"):
        assert requests.get(site.url + path, timeout=30).status_code == 200
    assert_no_python_errors(site)


@pytest.mark.sqlite
def test_the_wal_is_checkpointed_back_after_heavy_writes(site: Site):
    """Write far more than the WAL limit while reading; the WAL ends up small."""
    statuses.reset()
    authors = [Writer(site.url) for _ in range(3)]
    # About 130 KB a post (the Markdown and its HTML), 30 MB in all, written
    # while readers keep reading: a WAL that is never reset would hold it all.
    paragraph = "All work and no play makes a dull blog. " * 40 + "\n\n"
    body = paragraph * 40

    def write(author: Writer) -> None:
        for number in range(80):
            assert author.create(f"Heavy {number}", body, "heavy") is not None

    def write_all() -> None:
        with ThreadPoolExecutor(len(authors)) as pool:
            list(pool.map(write, authors))

    Readers(site.url, count=4).run_while(write_all)

    assert statuses.server_errors() == {}
    wal = site.database.with_name(site.database.name + "-wal")
    # The last save checkpoints once its response is out; give it a moment.
    deadline = time.monotonic() + 10
    while wal.stat().st_size > JOURNAL_SIZE_LIMIT and time.monotonic() < deadline:
        time.sleep(0.1)
    assert wal.stat().st_size <= JOURNAL_SIZE_LIMIT
    # With the server idle, no reader may still hold an old snapshot: a full
    # checkpoint must succeed without being blocked ("busy" is the first field).
    busy, _log, _done = site.query("PRAGMA wal_checkpoint(TRUNCATE)")[0]
    assert busy == 0
    assert wal.stat().st_size == 0
    assert_database_intact(site)
    assert_no_python_errors(site)


def deploy_config(port: int) -> str:
    """Return deploy/apache-homepage.conf, pointed at this checkout and port."""
    config = (PROJECT_ROOT / "deploy" / "apache-homepage.conf").read_text()
    # The same edits docs/deploy.md asks of an installer, made by hand there.
    config = config.replace("/srv/homepage/.venv", sys.prefix)
    config = config.replace("/srv/homepage", str(PROJECT_ROOT))
    config = config.replace("<VirtualHost *:80>", f"<VirtualHost 127.0.0.1:{port}>")
    user = serving_user()
    return config.replace("user=www-data group=www-data", f"user={user} group={user}")


def signing_keys(database: Path) -> list[tuple]:
    """Return the signing keys the database keeps (core/keys.py)."""
    with closing(sqlite3.connect(database, timeout=30)) as connection:
        return connection.execute("SELECT value FROM site_secrets").fetchall()


@pytest.fixture
def deployed() -> Iterator[ConfiguredServer]:
    """Serve the blog with plain apache2 and deploy/apache-homepage.conf."""
    data = make_data_dir("homepage-deploy-")
    instance = data / "instance"
    instance.mkdir()
    # As docs/deploy.md says: the database in instance/config.py, no secret
    # key there, so the app creates the database's key when it first loads.
    (instance / "config.py").write_text(f"DATABASE_URL = 'sqlite:///{data}/blog.db'\n")
    seed(f"sqlite:///{data / 'blog.db'}")
    give_to_server(data)
    server = ConfiguredServer(
        "", data, processes=2, env={"HOMEPAGE_INSTANCE_PATH": str(instance)}
    )
    server.vhost = deploy_config(server.port)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


def test_the_deploy_config_serves_the_blog_under_apache(deployed: ConfiguredServer):
    """Apache accepts the shipped virtual host and serves the blog with it."""
    try:
        checked = deployed.config_test()
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "Syntax OK" in checked.stdout + checked.stderr
        deployed.start(probe=False)
    except ServerError as error:
        pytest.fail(str(error), pytrace=False)
    # Before any request, each daemon has imported the app, which created the
    # secret key: the app is preloaded when a daemon starts.
    database = deployed.server_root.parent / "blog.db"
    deadline = time.monotonic() + 30
    while not signing_keys(database) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(signing_keys(database)) == 1, deployed.logs()
    assert not (deployed.server_root.parent / "instance" / "secret_key").exists()
    for pid in deployed.daemon_pids():
        owner = Path(f"/proc/{pid}").stat().st_uid
        assert pwd.getpwuid(owner).pw_name == serving_user()

    index = requests.get(deployed.url + "/", timeout=30)
    assert index.status_code == 200 and "Seeded post 0" in index.text
    stylesheet = re.search(r'href="(/static/style\.css\?v=\w+)"', index.text)
    assert stylesheet, index.text
    versioned = requests.get(deployed.url + stylesheet.group(1), timeout=30)
    assert versioned.status_code == 200
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    plain = requests.get(deployed.url + "/static/style.css", timeout=30)
    assert plain.headers["Cache-Control"] == "public, max-age=3600"
    assert "text/css" in plain.headers["Content-Type"]
    # An author can log in and publish through it: the daemons write the
    # database, its folder and the generated key with the right owner.
    writer = Writer(deployed.url)
    post_id = writer.create("Through the vhost", "Served by Apache.", "deploy")
    assert post_id is not None
    page = requests.get(deployed.url + "/tags/deploy", timeout=30)
    assert page.status_code == 200 and "Through the vhost" in page.text
    assert deployed.python_tracebacks() == [], deployed.error_log()


def test_every_daemon_shows_a_save_at_once(site: Site):
    """Pages cached by every daemon process give way to the author's save."""
    writer = Writer(site.url)
    post_id = writer.create("Cache probe", "The first version.", SEED_TAGS[0])
    assert post_id is not None
    [(slug,)] = site.query("SELECT slug FROM posts WHERE id = ?", post_id)
    paths = ["/", f"/posts/{slug}", f"/tags/{SEED_TAGS[0]}", "/feed.atom"]
    readers = [requests.Session() for _ in range(6)]
    # Warm the page caches: six connections land on all three daemons.
    for reader in readers:
        for path in paths:
            page = reader.get(site.url + path, timeout=30)
            assert page.status_code == 200
            assert "Cache probe" in page.text
    response = writer.save(
        f"/admin/posts/{post_id}/edit",
        "Freshly edited title",
        "A body saved just now.",
        SEED_TAGS[0],
    )
    assert response.status_code == 302
    for attempt in range(3):
        for reader in readers:
            for path in paths:
                page = reader.get(site.url + path, timeout=30)
                assert page.status_code == 200
                assert "Freshly edited title" in page.text, (attempt, path)
                assert "Cache probe" not in page.text, (attempt, path)
    assert_no_python_errors(site)


def test_a_reader_whose_connection_sat_idle_through_a_save_sees_it(site: Site):
    """Apache dates a request when it comes, not when its connection went idle.

    A read of the site's state serves the requests that reached Apache
    before it began (core/coalesce.py). Were a kept-alive connection's next
    request dated from the moment the connection went idle, a read made in
    the meantime would hide from it a save made after that read.
    """
    writer = Writer(site.url)
    reader = requests.Session()
    assert reader.get(site.url + "/", timeout=30).status_code == 200
    # While the reader's connection sits idle, other readers make every
    # daemon read the state.
    for _ in range(4 * PROCESSES):
        assert requests.get(site.url + "/", timeout=30).status_code == 200
    assert writer.create("Saved while it sat idle", "Fresh.", SEED_TAGS[0])

    page = reader.get(site.url + "/", timeout=30)
    assert page.status_code == 200
    assert "Saved while it sat idle" in page.text
    assert_no_python_errors(site)

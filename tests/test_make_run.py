"""``make run`` keeps every keep-alive connection it accepts, under load.

mod_wsgi-express starts Apache worker processes on demand and retires idle ones;
a retiring worker closes its idle keep-alive connections, and a client that
sends on one at that moment sees "Remote end closed connection without
response". ``make run`` starts every worker up front, as the test fixture and
the vhost do. Here 24 browsers, one of them an author who saves posts, each
keep one connection for a few thousand requests, coming and going at random
(so Apache has reason to add and retire workers), and must never see a dropped
connection.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from . import postgres
from .modwsgi import PROJECT_ROOT, check_readable_by_server, free_port

pytestmark = [pytest.mark.apache, pytest.mark.slow]

BROWSERS = 24
REQUESTS = 150  # per browser: 24 x 150 = 3,600 requests
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class MakeRun:
    """``make run`` in a copy of the checkout, on a free port."""

    def __init__(self, folder: Path, database_url: str) -> None:
        self.folder = folder
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "make-run.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> None:
        """Start ``make run`` and wait until the blog answers."""
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                # The virtualenv is this one, installed already: -o install
                # skips the system packages and pip.
                ["make", "-o", "install", "run", f"PORT={self.port}"]
                + [f"VENV={Path(sys.prefix)}"],
                cwd=self.folder,
                env={
                    **os.environ,
                    # The copy's own database and instance folder, not those
                    # of the checkout the virtualenv's homepage comes from.
                    "FLASK_DATABASE_URL": self.database_url,
                    "HOMEPAGE_INSTANCE_PATH": str(self.folder / "instance"),
                },
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"make run exited:\n{self.output()}")
            try:
                if requests.get(self.url + "/", timeout=5).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or the daemons still loading the app
            time.sleep(0.3)
        raise AssertionError(f"make run did not answer:\n{self.output()}")

    def stop(self) -> None:
        """Stop make, Apache and its daemons."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        # Apache's parent ends its children; wait until the port is free.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/", timeout=1)
            except requests.ConnectionError:
                return
            except requests.Timeout:
                pass  # still shutting down
            time.sleep(0.3)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def owner_password(self) -> str:
        found = re.search(r"password:\s+(\S+)", self.output())
        assert found, self.output()
        return found.group(1)


@pytest.fixture
def make_run(database_url) -> Iterator[MakeRun]:
    """Serve a copy of the checkout with ``make run``; stop and remove it after.

    On SQLite the database is the copy's blog.db; on PostgreSQL an empty test
    database, DATABASE_URL being the one setting that switches: make run
    creates the schema either way.
    """
    check_readable_by_server()
    folder = Path(tempfile.mkdtemp(prefix="homepage-make-run-", dir="/var/tmp"))
    shutil.copytree(
        PROJECT_ROOT,
        folder,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            ".mod_wsgi",
            "__pycache__",
            "*.egg-info",
            "instance",
            "blog.db*",
            ".pytest_cache",
            ".ruff_cache",
            ".mypy_cache",
            ".hypothesis",
        ),
    )
    folder.chmod(0o755)
    url = f"sqlite:///{folder}/blog.db"
    if postgres.selected():
        url = database_url("blog", migrated=False)
    server = MakeRun(folder, url)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def author_session(url: str, password: str) -> tuple[requests.Session, str]:
    http = requests.Session()
    page = http.get(f"{url}/admin/login", timeout=30).text
    response = http.post(
        f"{url}/admin/login",
        data={
            "username": "admin",
            "password": password,
            "csrf_token": _CSRF.search(page).group(1),
        },
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text
    form = http.get(f"{url}/admin/posts/new", timeout=30).text
    return http, _CSRF.search(form).group(1)


def test_make_run_never_drops_a_keep_alive_connection(make_run: MakeRun):
    url = make_run.url
    password = make_run.owner_password()
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def note(outcome: str) -> None:
        with lock:
            outcomes[outcome] += 1

    def browse(index: int) -> None:
        # Readers come and go at random, so the number of busy Apache threads
        # rises and falls: on demand, Apache would start and retire workers.
        pace = random.Random(index)
        author = index == 0
        if author:
            http, token = author_session(url, password)
        else:
            http = requests.Session()
        for number in range(REQUESTS):
            try:
                if author and number % 5 == 0:
                    response = http.post(
                        f"{url}/admin/posts/new",
                        data={
                            "title": f"Under load {number}",
                            "slug": "",
                            "body": "Saved on a kept-alive connection.",
                            "summary": "",
                            "tags": "",
                            "status": "published",
                            "action": "save",
                            "csrf_token": token,
                        },
                        allow_redirects=False,
                        timeout=60,
                    )
                    note(f"POST {response.status_code}")
                else:
                    # An address of its own each time is never in the page
                    # cache, so the page is rendered: it keeps Apache's
                    # threads busy longer than a cached page would. (Not a
                    # search: beyond SEARCH_CONCURRENCY at once, a search is
                    # refused with 503 by design.)
                    response = http.get(f"{url}/?visit={index}-{number}", timeout=60)
                    note(f"GET {response.status_code}")
            except requests.ConnectionError as error:
                note(f"dropped: {error}")
            # Half a second between clicks on average, and never a whole
            # keep-alive timeout (2 s): a request sent just as the timeout
            # closes the connection is lost whatever the server, and browsers
            # send it again.
            time.sleep(min(pace.expovariate(2.0), 1.0))

    with ThreadPoolExecutor(BROWSERS) as pool:
        for finished in [pool.submit(browse, index) for index in range(BROWSERS)]:
            finished.result()

    dropped = {key: n for key, n in outcomes.items() if key.startswith("dropped")}
    assert dropped == {}, outcomes
    assert outcomes.total() == BROWSERS * REQUESTS
    assert set(outcomes) <= {"GET 200", "POST 302"}, outcomes

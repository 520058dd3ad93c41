"""Several hosts, one database: a shared signing key, images from the database.

Each host has its own instance folder and upload folder and shares nothing but
DATABASE_URL. The fast tests play the hosts with two apps in one process; the
Apache tests at the end start two mod_wsgi-express servers on one PostgreSQL
database and go through real HTTP.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image as PILImage
from sqlalchemy import event, literal, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from werkzeug.serving import make_server

from homepage import create_app, db
from homepage.core import images, keys
from homepage.core.authors import create_author
from homepage.core.models import OWNER, Image, ImageFile, SiteSecret
from homepage.db import get_engine, read_rows, session

from . import postgres
from .modwsgi import (
    PROJECT_ROOT,
    ModWsgiServer,
    ServerError,
    give_to_server,
    log_in,
    make_data_dir,
)
from .support import PASSWORD, AuthActions, csrf_from

# -- the signing key ---------------------------------------------------------


def key_rows(app: Flask) -> list[str]:
    """Return the signing keys the database keeps."""
    with app.app_context():
        return list(session.scalars(select(SiteSecret.value)))


def logged_in(app: Flask) -> FlaskClient:
    """Return a client of ``app`` logged in as alice."""
    client = app.test_client()
    assert AuthActions(client).login().status_code == 302
    return client


def same_cookies(source: FlaskClient, target: FlaskClient, app: Flask) -> None:
    """Give ``target`` the session cookie ``source`` holds, as a load balancer would."""
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = source.get_cookie(name)
    assert cookie is not None
    target.set_cookie(name, cookie.value)


def test_hosts_without_a_key_setting_sign_with_the_database_s_key(make_app, tmp_path):
    host_a = make_app(SECRET_KEY=None, instance=tmp_path / "a")
    host_b = make_app(SECRET_KEY=None, instance=tmp_path / "b", create=False)

    assert re.fullmatch(r"[0-9a-f]{64}", host_b.secret_key)
    assert host_a.secret_key == host_b.secret_key
    assert key_rows(host_b) == [host_b.secret_key]
    # Nothing of it in host b's files.
    assert not (tmp_path / "b" / "secret_key").exists()

    # A login made through host a is valid on host b.
    browser_a = logged_in(host_a)
    browser_b = host_b.test_client()
    same_cookies(browser_a, browser_b, host_a)
    page = browser_b.get("/admin/posts/new")
    assert page.status_code == 200
    assert "csrf_token" in page.get_data(as_text=True)


def test_a_configured_key_still_wins(make_app, tmp_path):
    make_app(SECRET_KEY=None, instance=tmp_path / "a")
    configured = "configured-" + "k3y" * 20

    host = make_app(SECRET_KEY=configured, instance=tmp_path / "b", create=False)

    assert host.secret_key == configured
    assert key_rows(host) != [configured]


def test_an_upgraded_host_keeps_its_key_file_s_key_and_logins(make_app, tmp_path):
    # A site from before: its one host signed with instance/secret_key.
    old_key = "0f" * 32
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "secret_key").write_text(old_key + "\n")

    host_a = make_app(SECRET_KEY=None, instance=tmp_path / "a")
    host_b = make_app(SECRET_KEY=None, instance=tmp_path / "b", create=False)

    assert host_a.secret_key == host_b.secret_key == old_key
    assert key_rows(host_b) == [old_key]


def test_hosts_starting_at_once_create_one_key(make_app, tmp_path):
    app = make_app()  # a configured key: the database has none yet
    engine = get_engine(app)
    barrier = threading.Barrier(6)
    found: list[str] = []

    def start(number: int) -> None:
        barrier.wait()
        found.append(keys.signing_key(engine, tmp_path / f"host{number}" / "key"))

    threads = [threading.Thread(target=start, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(found) == 6 and len(set(found)) == 1
    assert key_rows(app) == found[:1]


# -- images: the database holds the files, each upload folder caches them ------


def png(colour: tuple[int, int, int] = (200, 30, 30), size=(600, 400)) -> bytes:
    """Return a real PNG, wide enough to get variants."""
    buffer = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def upload_image(client: FlaskClient, data: bytes) -> str:
    """Upload ``data`` from the images page; return the stored image's name."""
    response = AuthActions(client).post_form(
        "/admin/images/", image=(io.BytesIO(data), "photo.png"), alt="A photo"
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    names = re.findall(r"/media/([0-9a-f]{32}\.png)", response.headers["Location"])
    if names:
        return names[0]
    page = client.get("/admin/images/").get_data(as_text=True)
    return re.findall(r"/media/([0-9a-f]{32}\.png)", page)[0]


def file_rows(app: Flask) -> dict[str, bytes]:
    """Return the stored files the database holds, by name."""
    with app.app_context():
        return dict(session.execute(select(ImageFile.name, ImageFile.data)).all())


def variant_names(app: Flask, name: str) -> list[str]:
    """Return the names of the stored files of image ``name`` but the original."""
    return sorted(row for row in file_rows(app) if row != name)


@pytest.fixture
def two_hosts(make_app, tmp_path) -> tuple[Flask, Flask]:
    """Return two apps on one database, each with its own instance and uploads."""
    host_a = make_app(instance=tmp_path / "a", UPLOAD_FOLDER=str(tmp_path / "up-a"))
    host_b = make_app(
        instance=tmp_path / "b", UPLOAD_FOLDER=str(tmp_path / "up-b"), create=False
    )
    return host_a, host_b


def test_an_image_uploaded_through_one_host_is_served_by_another(two_hosts, tmp_path):
    host_a, host_b = two_hosts
    name = upload_image(logged_in(host_a), png())
    stored = file_rows(host_a)
    assert name in stored and len(stored) > 1  # the original and its variants
    assert not (tmp_path / "up-b").exists()

    reader = host_b.test_client()
    for file in stored:
        with reader.get(f"/media/{file}") as response:
            assert response.status_code == 200, file
            assert response.get_data() == stored[file]
            assert response.headers["Cache-Control"] == (
                "public, max-age=31536000, immutable"
            )
    # Host b keeps them in its own upload folder now, whole.
    cached = {path.name: path.read_bytes() for path in (tmp_path / "up-b").iterdir()}
    assert cached == stored


def test_a_missing_cached_file_is_written_again_from_the_database(app, client):
    name = upload_image(logged_in(app), png())
    folder = Path(app.config["UPLOAD_FOLDER"])
    original = (folder / name).read_bytes()
    for path in folder.iterdir():
        path.unlink()

    with client.get(f"/media/{name}") as response:
        assert response.status_code == 200
        assert response.get_data() == original
    assert [path.name for path in folder.iterdir()] == [name]
    assert (folder / name).read_bytes() == original


@pytest.mark.parametrize(
    "name",
    [f"{'a' * 32}.png", f"{'a' * 32}-480-{'b' * 16}.webp", "blog.db", "..%2Fblog.db"],
    ids=["unknown-image", "unknown-variant", "not-a-media-name", "escape"],
)
def test_a_name_no_stored_file_has_is_404_and_writes_nothing(app, client, name):
    response = client.get(f"/media/{name}")

    assert response.status_code == 404
    folder = Path(app.config["UPLOAD_FOLDER"])
    assert not folder.exists() or list(folder.iterdir()) == []


def test_concurrent_readers_of_a_missing_file_all_get_it_whole(app, tmp_path):
    # Noise: a file of megabytes, which takes a while to write.
    noise = PILImage.frombytes("RGB", (1000, 800), os.urandom(1000 * 800 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    with app.test_request_context():
        # Stored as an upload is, without the test client's spooled form file.
        image = images.store(buffer.getvalue(), "noise.png", None)
        images.commit_upload(image)
        name = image.name
    folder = Path(app.config["UPLOAD_FOLDER"])
    expected = file_rows(app)
    for path in folder.iterdir():
        path.unlink()
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=httpd.serve_forever, daemon=True)
    serving.start()
    barrier = threading.Barrier(12)
    results: list[tuple[str, int, bytes]] = []

    def read(file: str) -> None:
        barrier.wait()
        response = requests.get(
            f"http://127.0.0.1:{httpd.server_port}/media/{file}", timeout=30
        )
        results.append((file, response.status_code, response.content))

    files = [name] * 8 + sorted(expected)[:4]
    readers = [threading.Thread(target=read, args=(file,)) for file in files]
    try:
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout=60)
    finally:
        httpd.shutdown()
        httpd.server_close()

    assert len(results) == 12
    for file, status, content in results:
        assert status == 200, file
        assert content == expected[file]
    # No temporary file left behind, and every cached file whole.
    for path in folder.iterdir():
        assert path.name in expected
        assert path.read_bytes() == expected[path.name]


def test_uploads_from_before_move_into_the_database_once(app, runner):
    name = upload_image(logged_in(app), png())
    stored = file_rows(app)
    # As an upload before the database held the files: in the folder only.
    with app.app_context():
        session.execute(ImageFile.__table__.delete())
        session.commit()
    assert file_rows(app) == {}

    first = runner.invoke(args=["process-images"])
    again = runner.invoke(args=["process-images"])

    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    assert file_rows(app) == stored
    # Now any host serves it, whatever its folder holds.
    folder = Path(app.config["UPLOAD_FOLDER"])
    for path in folder.iterdir():
        path.unlink()
    with app.test_client().get(f"/media/{name}") as response:
        assert response.status_code == 200
        assert response.get_data() == stored[name]


def test_deleting_an_image_deletes_its_files_rows(app):
    browser = logged_in(app)
    name = upload_image(browser, png())
    with app.app_context():
        image_id = session.scalar(select(Image.id).where(Image.name == name))

    response = AuthActions(browser).post_form(f"/admin/images/{image_id}/delete")

    assert response.status_code == 302
    assert file_rows(app) == {}
    assert app.test_client().get(f"/media/{name}").status_code == 404


def test_another_host_drops_a_deleted_image_from_its_cache(two_hosts):
    host_a, host_b = two_hosts
    browser = logged_in(host_a)
    name = upload_image(browser, png())
    with host_b.test_client().get(f"/media/{name}") as response:
        assert response.status_code == 200
    with host_a.app_context():
        image_id = session.scalar(select(Image.id).where(Image.name == name))
    AuthActions(browser).post_form(f"/admin/images/{image_id}/delete")

    result = host_b.test_cli_runner().invoke(args=["process-images"])

    assert result.exit_code == 0, result.output
    assert list(Path(host_b.config["UPLOAD_FOLDER"]).iterdir()) == []
    assert host_b.test_client().get(f"/media/{name}").status_code == 404


# The PostgreSQL side of backups is pg_dump's, which holds the files' rows.
@pytest.mark.sqlite
def test_a_backup_made_on_a_host_with_an_empty_cache_has_every_image(
    two_hosts, tmp_path
):
    host_a, host_b = two_hosts
    name = upload_image(logged_in(host_a), png())

    result = host_b.test_cli_runner().invoke(args=["backup", str(tmp_path / "bk")])

    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    assert (tmp_path / "bk" / "uploads" / name).read_bytes() == file_rows(host_a)[name]


# -- connections PostgreSQL closed -------------------------------------------


@pytest.mark.postgresql
def test_connections_the_server_closed_are_replaced_without_an_error(
    app, client, postgres_cluster
):
    assert client.get("/").status_code == 200
    database = make_url(app.config["DATABASE_URL"]).database
    # What a restart of PostgreSQL, or a firewall dropping idle
    # connections, does to the connections in the pool.
    postgres_cluster.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}'"
    )

    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 200]


def site_backends(app: Flask) -> set[int]:
    """Return the server processes behind the site's connections to its database."""
    # Each connection names this process (db._name_the_process).
    url = make_url(app.config["DATABASE_URL"])
    with psycopg.connect(
        host=url.query["host"], port=int(url.query["port"]), user=url.username
    ) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = %s",
            (url.database, f"homepage[{os.getpid()}]"),
        ).fetchall()
    return {pid for (pid,) in rows}


def close_from_the_server(cluster: postgres.Cluster, pids: Iterable[int]) -> None:
    """End these server processes, and so their connections, as a restart would."""
    for pid in pids:
        # The timeout waits until the process has exited.
        cluster.execute(f"SELECT pg_terminate_backend({pid}, 5000)")


@contextmanager
def closed_once_lent(
    app: Flask, cluster: postgres.Cluster, times: float = math.inf
) -> Iterator[None]:
    """Close each of the next ``times`` connections the pool lends, once lent.

    As a restart under load does: the pool had no reason to doubt them.
    """
    left = [times]

    def close(dbapi_connection, _record, _proxy) -> None:
        if left[0] > 0:
            left[0] -= 1
            close_from_the_server(cluster, [dbapi_connection.info.backend_pid])

    event.listen(get_engine(app), "checkout", close)
    try:
        yield
    finally:
        event.remove(get_engine(app), "checkout", close)


@pytest.fixture
def pings(app: Flask, monkeypatch) -> list[object]:
    """Record the connections the pool pings before lending them."""
    dialect = get_engine(app).dialect
    ping = dialect.do_ping
    made: list[object] = []

    def recorded_ping(dbapi_connection) -> bool:
        made.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", recorded_ping)
    return made


@pytest.mark.postgresql
def test_connections_in_recent_use_are_not_pinged(app, client, pings):
    first = client.get("/")  # the pool holds connections, the page is cached
    assert first.status_code == 200

    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 200]
    etag = {"If-None-Match": first.headers["ETag"]}
    assert client.get("/", headers=etag).status_code == 304
    assert client.get("/archive").status_code == 200  # a miss: the lists' reads
    assert pings == []


@pytest.mark.postgresql
def test_a_connection_idle_for_a_while_is_pinged_and_replaced(
    app, client, auth, postgres_cluster, pings, monkeypatch
):
    auth.login()
    assert client.get("/admin/").status_code == 200
    before = site_backends(app)
    # Every connection has now sat in the pool longer than that.
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    close_from_the_server(postgres_cluster, before)

    # The admin's pages read through the session, whose statements are
    # never retried: only the ping before use can spare them an error.
    assert [client.get("/admin/").status_code for _ in range(3)] == [200, 200, 200]
    assert pings
    after = site_backends(app)
    assert after
    assert not after & before


@pytest.mark.postgresql
def test_a_lone_read_on_a_closed_connection_is_retried_once(
    app, client, postgres_cluster, caplog
):
    etag = {"If-None-Match": client.get("/").headers["ETag"]}
    caplog.set_level(logging.ERROR)

    # The page and the 304 come from the cache after one read of the
    # site's state (content.read_state), on a connection the server closed.
    for headers, status in (({}, 200), (etag, 304)):
        with closed_once_lent(app, postgres_cluster, times=1):
            assert client.get("/", headers=headers).status_code == status
    assert caplog.text == ""

    # Closed again on the fresh connection: the read gives up (once is
    # enough for a stale pool) and the app renders the page itself.
    with closed_once_lent(app, postgres_cluster, times=2):
        assert client.get("/").status_code == 200
    assert "Could not read the site's state for /" in caplog.text

    # A server that closes every connection is down: the 503 page.
    with closed_once_lent(app, postgres_cluster):
        response = client.get("/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert "cannot reach its posts right now" in response.get_data(as_text=True)

    assert client.get("/").status_code == 200


@pytest.mark.postgresql
def test_after_one_closed_connection_the_pool_replaces_the_others(
    app, client, postgres_cluster, caplog
):
    assert client.get("/").status_code == 200
    engine = get_engine(app)
    with engine.connect(), engine.connect(), engine.connect():
        pass  # the pool holds three connections, as after requests at once
    before = site_backends(app)
    close_from_the_server(postgres_cluster, before)  # a restart under load
    caplog.set_level(logging.ERROR)

    # The read of the site's state meets one closed connection; its retry
    # must not be handed another one.
    assert client.get("/").status_code == 200
    assert caplog.text == ""
    assert client.get("/archive").status_code == 200
    assert not site_backends(app) & before


@pytest.mark.postgresql
def test_a_list_read_on_a_closed_connection_is_retried_once(app, postgres_cluster):
    statement = select(literal(42))
    with app.test_request_context("/"):
        with closed_once_lent(app, postgres_cluster, times=1):
            assert [tuple(row) for row in read_rows(statement, {})] == [(42,)]

        with closed_once_lent(app, postgres_cluster, times=2):
            with pytest.raises(OperationalError) as raised:
                read_rows(statement, {})
        assert raised.value.connection_invalidated

        assert [tuple(row) for row in read_rows(statement, {})] == [(42,)]


# -- two Apache hosts on one PostgreSQL database ------------------------------

#: Each host: mod_wsgi-express with this many daemons and threads.
PROCESSES = 2
THREADS = 4
_EDIT_LOCATION = re.compile(r"/admin/posts/(\d+)/edit$")
_MEDIA = re.compile(r"/media/([0-9a-f]{32}\.png)")


@dataclass
class Host:
    """One Apache host: its server, and its own instance and upload folders."""

    server: ModWsgiServer
    folder: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def uploads(self) -> Path:
        return self.folder / "instance" / "uploads"


@dataclass
class Hosts:
    """Two hosts serving one blog, and the database they share."""

    a: Host
    b: Host
    database_url: str

    def query(self, sql: str) -> list[tuple]:
        """Run a read-only query on the shared database, as the test's reader."""
        url = make_url(self.database_url)
        with psycopg.connect(
            host=url.query["host"],
            port=int(url.query["port"]),
            user=url.username,
            dbname=url.database,
        ) as connection:
            return connection.execute(sql).fetchall()


def start_host(name: str, database_url: str) -> Host:
    """Start a host whose instance folder holds only a config.py naming the database."""
    folder = make_data_dir(f"homepage-host-{name}-")
    instance = folder / "instance"
    instance.mkdir(mode=0o750)
    (instance / "config.py").write_text(f"DATABASE_URL = {database_url!r}\n")
    give_to_server(folder)
    server = ModWsgiServer(
        PROJECT_ROOT / "homepage.wsgi",
        folder,
        processes=PROCESSES,
        threads=THREADS,
        env={"HOMEPAGE_INSTANCE_PATH": str(instance)},
    )
    try:
        server.start()
    except ServerError as error:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(str(error), pytrace=False)
    return Host(server, folder)


@pytest.fixture(scope="module")
def hosts(postgres_cluster, postgres_template) -> Iterator[Hosts]:
    """Serve one blog from two mod_wsgi-express hosts on one PostgreSQL database."""
    name = f"hosts_{os.getpid()}"
    url = postgres_cluster.create_database(name, postgres_template)
    with tempfile.TemporaryDirectory() as seed_folder:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOMEPAGE_INSTANCE_PATH", seed_folder)
            # Only alice: the key is left for the first host to create.
            seeder = create_app({"SECRET_KEY": "seed " * 13, "DATABASE_URL": url})
            with seeder.app_context():
                create_author("alice", PASSWORD, OWNER)
            get_engine(seeder).dispose()
    started: list[Host] = []
    try:
        started.append(start_host("a", url))
        started.append(start_host("b", url))
        yield Hosts(*started, database_url=url)
    finally:
        for host in started:
            host.server.stop()
            shutil.rmtree(host.folder, ignore_errors=True)
        postgres_cluster.drop_database(name)


class Author:
    """An author's browser, logged in through one host."""

    def __init__(self, url: str) -> None:
        self.http, self.token = log_in(url, "alice", PASSWORD)

    def create(self, url: str, title: str, body: str = "") -> int | None:
        """Create a published post through ``url``; return its id once confirmed."""
        response = self.http.post(
            f"{url}/admin/posts/new",
            data={
                "title": title,
                "slug": "",
                "body": body or f"The body of {title}.",
                "summary": "",
                "tags": "",
                "status": "published",
                "action": "save",
                "csrf_token": self.token,
            },
            allow_redirects=False,
            timeout=60,
        )
        if response.status_code != 302:
            return None
        match = _EDIT_LOCATION.search(response.headers["Location"])
        return int(match.group(1)) if match else None


@pytest.mark.apache
@pytest.mark.postgresql
def test_a_login_through_one_host_is_valid_on_the_other(hosts: Hosts):
    author = Author(hosts.a.url)

    # The browser sends the cookie host a set to host b, as it would through
    # a load balancer; host b signs and checks with the same key.
    form = author.http.get(
        f"{hosts.b.url}/admin/posts/new", allow_redirects=False, timeout=30
    )
    assert form.status_code == 200 and 'name="title"' in form.text
    assert author.create(hosts.b.url, "Written through host b") is not None
    assert len(hosts.query("SELECT value FROM site_secrets")) == 1
    for host in (hosts.a, hosts.b):
        assert not (host.folder / "instance" / "secret_key").exists()


@pytest.mark.apache
@pytest.mark.postgresql
def test_a_save_through_one_host_is_seen_on_the_other_at_once(hosts: Hosts):
    author = Author(hosts.a.url)
    for number in range(6):
        writer, reader = (hosts.a, hosts.b) if number % 2 == 0 else (hosts.b, hosts.a)
        # Every daemon of the reading host has the front page cached.
        for _ in range(PROCESSES * 3):
            assert requests.get(f"{reader.url}/", timeout=30).status_code == 200
        title = f"Seen everywhere {number}"

        assert author.create(writer.url, title) is not None

        for _ in range(PROCESSES * 3):
            page = requests.get(f"{reader.url}/", timeout=30)
            assert page.status_code == 200 and title in page.text


@pytest.mark.apache
@pytest.mark.postgresql
def test_an_image_uploaded_through_one_host_is_served_by_the_other(hosts: Hosts):
    author = Author(hosts.a.url)
    data = png((20, 120, 220), size=(1200, 800))
    page = author.http.get(f"{hosts.a.url}/admin/images/", timeout=30)
    response = author.http.post(
        f"{hosts.a.url}/admin/images/",
        data={"alt": "Blue", "csrf_token": csrf_from(page.text)},
        files={"image": ("blue.png", data, "image/png")},
        allow_redirects=False,
        timeout=60,
    )
    assert response.status_code == 302, response.text
    listed = author.http.get(f"{hosts.a.url}/admin/images/", timeout=30).text
    name = _MEDIA.findall(listed)[0]
    assert not (hosts.b.uploads / name).exists()

    served = {
        host.url: requests.get(f"{host.url}/media/{name}", timeout=30)
        for host in (hosts.a, hosts.b)
    }

    for answer in served.values():
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "image/png"
        assert "immutable" in answer.headers["Cache-Control"]
    assert served[hosts.a.url].content == served[hosts.b.url].content
    assert served[hosts.b.url].content == data  # a plain PNG is stored as sent
    # Its variants too, each host from its own folder.
    variants = [
        row[0]
        for row in hosts.query(f"SELECT name FROM image_files WHERE name <> '{name}'")
    ]
    assert variants
    for variant in variants:
        answer = requests.get(f"{hosts.b.url}/media/{variant}", timeout=30)
        assert answer.status_code == 200
        assert (hosts.b.uploads / variant).read_bytes() == answer.content


@pytest.mark.apache
@pytest.mark.postgresql
def test_killing_one_host_s_daemons_mid_writes_loses_no_acknowledged_write(
    hosts: Hosts,
):
    authors = [Author(hosts.a.url) for _ in range(4)]
    body = ("A sentence that takes a moment to store. " * 50 + "\n\n") * 40
    confirmed: dict[int, str] = {}
    unconfirmed = 0
    reader_statuses: Counter[int] = Counter()
    lock = threading.Lock()
    killed = threading.Event()
    done = threading.Event()
    deadline = time.monotonic() + 60

    def write(index: int) -> None:
        nonlocal unconfirmed
        for number in range(1000):
            if done.is_set() or time.monotonic() > deadline:
                return
            title = f"Kill {index}.{number}"
            try:
                post_id = authors[index].create(
                    hosts.a.url, title, f"{title}\n\n{body}"
                )
            except requests.RequestException:
                post_id = None
            with lock:
                if post_id is None:
                    unconfirmed += 1
                else:
                    confirmed[post_id] = title

    def read() -> None:
        http = requests.Session()
        while not done.is_set() and time.monotonic() < deadline:
            status = http.get(f"{hosts.b.url}/", timeout=30).status_code
            with lock:
                reader_statuses[status] += 1

    with ThreadPoolExecutor(len(authors) + 2) as pool:
        futures = [pool.submit(write, n) for n in range(len(authors))]
        futures += [pool.submit(read) for _ in range(2)]
        while len(confirmed) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        victims = hosts.a.server.daemon_pids()
        assert len(victims) == PROCESSES
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        killed.set()
        after = len(confirmed)
        hosts.a.server.wait_for_daemons(without=victims)
        # Writes go on through host a's new daemons.
        while len(confirmed) < after + 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        done.set()
        for future in futures:
            future.result()

    assert len(confirmed) >= after + 10, "writes did not resume after the kill"
    # Host b answered every reader throughout.
    assert set(reader_statuses) == {200} and reader_statuses[200] > 0
    stored = dict(hosts.query("SELECT id, title FROM posts WHERE title LIKE 'Kill %'"))
    missing = {
        pid: title for pid, title in confirmed.items() if stored.get(pid) != title
    }
    assert missing == {}
    for host in (hosts.a, hosts.b):
        assert requests.get(f"{host.url}/", timeout=30).status_code == 200

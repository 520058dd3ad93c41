"""Security headers, the session cookie, server-side logout and the secret key."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from homepage.core.models import LoginSession, utcnow
from homepage.db import PROJECT_ROOT, session

from .payloads import executable_parts

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow

READER_PATHS = ["/", "/archive", "/posts/hello", "/tags/news", "/no-such-page"]
ADMIN_PATHS = [
    "/admin/login",
    "/admin/",
    "/admin/posts/new",
    "/admin/posts/1/edit",
    "/admin/images/",
    "/admin/account/",
    "/admin/no-such-page",
]


@pytest.fixture
def site(auth):
    """Log in and publish "Hello", tagged news."""
    auth.login()
    assert auth.create_post("Hello", tags="news").status_code == 302


@pytest.mark.parametrize("path", READER_PATHS)
def test_reader_pages_forbid_inline_code_and_foreign_framing(client, site, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "object-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert executable_parts(response.get_data(as_text=True)) == []


@pytest.mark.parametrize("path", ADMIN_PATHS)
def test_admin_pages_are_never_framed_or_cached(client, site, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_are_not_sniffed(client):
    response = client.get("/static/style.css")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


def test_templates_hold_no_inline_script_or_style():
    # What the CSP forbids must not be needed: no inline scripts, styles or
    # event handlers anywhere in the templates.
    for template in (PROJECT_ROOT / "templates").rglob("*.html"):
        source = template.read_text()
        # A data block, or a static file of the site's own, with no inline code.
        assert not re.search(
            r"<script(?![^>]*application/ld\+json)"
            r"(?! type=\"module\" src=\"\{\{ url_for\('static', "
            r"filename='[a-z]+\.js'\) \}\}\"></script>)",
            source,
        ), template
        assert not re.search(r"<style|\sstyle=|\son\w+=", source), template


# -- the session cookie ----------------------------------------------------------


def test_the_login_cookie_is_httponly_lax_and_expires(app, auth):
    cookie = auth.login().headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Expires=" in cookie
    assert "Secure" not in cookie


def test_the_login_cookie_is_secure_when_configured(app, auth):
    app.config["SESSION_COOKIE_SECURE"] = True
    cookies = auth.login().headers.getlist("Set-Cookie")
    assert cookies and all("; Secure" in cookie for cookie in cookies)


def test_logging_out_ends_the_session_on_the_server(app, client, auth):
    auth.login()
    stolen = client.get_cookie("session").value
    auth.logout()
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    response = replay.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]
    with app.app_context():
        assert session.scalars(select(LoginSession)).all() == []


def test_logging_out_ends_only_this_browsers_session(app, client, auth):
    auth.login()
    other = app.test_client()
    type(auth)(other).login()
    auth.logout()
    assert other.get("/admin/").status_code == 200


def test_a_session_ends_with_its_lifetime(app, client, auth):
    app.config["PERMANENT_SESSION_LIFETIME"] = 3600
    auth.login()
    with app.app_context():
        login = session.scalars(select(LoginSession)).one()
        assert login.expires_at - login.created_at == timedelta(hours=1)
    assert client.get("/admin/").status_code == 200
    with app.app_context():
        # The hour has passed, as far as the server can tell.
        session.execute(
            update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    assert client.get("/admin/").status_code == 302


def test_a_cookie_without_a_server_session_is_not_a_login(app, client):
    # What a cookie signed with the right key but never issued would hold.
    with client.session_transaction() as cookie:
        cookie["author_id"] = 1
    assert client.get("/admin/").status_code == 302
    with client.session_transaction() as cookie:
        cookie["author_id"] = 1
        cookie["sid"] = "guessed"
    assert client.get("/admin/").status_code == 302


def test_logging_in_replaces_a_planted_session(app, client, auth):
    with client.session_transaction() as cookie:
        cookie["planted"] = "by an attacker"
    auth.login()
    with client.session_transaction() as cookie:
        assert "planted" not in cookie
        assert cookie.permanent


# -- trusted host names ----------------------------------------------------------

TRUSTED = ["localhost", "blog.example.org"]
FORGED = {"Host": "evil.example"}


def assert_refused_host(response) -> None:
    assert response.status_code == 400
    if response.request.method != "HEAD":
        text = response.get_data(as_text=True)
        assert "does not answer to that host name" in text
        assert "evil.example" not in text
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "ETag" not in response.headers


def test_a_host_outside_trusted_hosts_is_refused_before_the_page_cache(app, site):
    app.config["TRUSTED_HOSTS"] = TRUSTED
    reader = app.test_client()
    page = reader.get("/posts/hello")  # now in the page cache
    assert page.status_code == 200
    etag = page.headers["ETag"]

    for headers in (
        {},
        {"If-None-Match": etag},
        {"If-None-Match": "*"},
        {"If-Modified-Since": page.headers["Last-Modified"]},
    ):
        assert_refused_host(reader.get("/posts/hello", headers={**FORGED, **headers}))
    assert_refused_host(reader.head("/posts/hello", headers=FORGED))
    assert_refused_host(reader.get("/feed.atom", headers=FORGED))
    assert_refused_host(reader.get("/static/style.css", headers=FORGED))


def test_a_host_outside_trusted_hosts_is_refused_by_the_app_too(app, client, site):
    app.config["TRUSTED_HOSTS"] = TRUSTED
    # A logged-in author's pages and every form go past the page cache.
    assert_refused_host(client.get("/posts/hello", headers=FORGED))
    assert_refused_host(client.get("/admin/", headers=FORGED))
    assert_refused_host(client.post("/admin/logout", headers=FORGED))
    assert client.get("/admin/").status_code == 200


def test_a_trusted_host_is_served_and_named_in_the_page(app, site):
    app.config["TRUSTED_HOSTS"] = TRUSTED
    reader = app.test_client()
    page = reader.get("/posts/hello", headers={"Host": "blog.example.org:8000"})
    assert page.status_code == 200
    assert "http://blog.example.org:8000/posts/hello" in page.get_data(as_text=True)
    assert reader.get("/posts/hello").status_code == 200


def test_trusted_hosts_can_come_from_the_environment(make_app, monkeypatch):
    # As `make run` passes them: flask parses FLASK_ variables as JSON.
    monkeypatch.setenv("FLASK_TRUSTED_HOSTS", '["127.0.0.1", "localhost"]')
    app = make_app()
    assert app.config["TRUSTED_HOSTS"] == ["127.0.0.1", "localhost"]
    assert_refused_host(app.test_client().get("/", headers=FORGED))


@pytest.mark.parametrize(
    ("host", "trusted"),
    [
        ("127.0.0.1", ["127.0.0.1", "localhost"]),
        ("192.168.1.20", ["127.0.0.1", "192.168.1.20", "localhost"]),
        ("0.0.0.0", ["127.0.0.1", "localhost"]),
    ],
)
def test_make_run_and_dev_trust_only_the_hosts_they_serve(host, trusted):
    for target in ("run", "dev"):
        commands = subprocess.run(
            ["make", "-n", target, f"HOST={host}"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        match = re.search(r"^FLASK_TRUSTED_HOSTS='([^']*)' \S+", commands, re.M)
        assert match, commands
        assert json.loads(match.group(1)) == trusted


# -- the secret key ------------------------------------------------------------------


def test_the_secret_key_is_random_and_kept_in_the_instance_folder(
    make_app, tmp_path: Path
):
    def app_in(folder: Path):
        return make_app(
            bare=True,
            create=False,
            instance=folder,
            DATABASE_URL=f"sqlite:///{tmp_path / 'blog.db'}",
            TESTING=True,
        )

    first = app_in(tmp_path / "one")
    key_file = tmp_path / "one" / "secret_key"
    assert re.fullmatch(r"[0-9a-f]{64}", first.secret_key)
    assert key_file.read_text().strip() == first.secret_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # The folder holds the settings and often the database: no access for others.
    assert stat.S_IMODE((tmp_path / "one").stat().st_mode) & 0o007 == 0
    assert app_in(tmp_path / "one").secret_key == first.secret_key
    assert app_in(tmp_path / "two").secret_key != first.secret_key

"""The author logs in and out; everyone else is kept out of /admin/."""

from __future__ import annotations

import pytest
from flask_login import current_user
from sqlalchemy import func, select

from homepage.core.models import Author, LoginSession
from homepage.db import session

from .support import PASSWORD, csrf_from


@pytest.mark.real_hashing
def test_password_is_stored_hashed_with_scrypt(app, auth):
    with app.app_context():
        author = session.scalars(select(Author)).one()
        assert PASSWORD not in author.password_hash
        assert author.password_hash.startswith("scrypt:")
    assert auth.login().status_code == 302


def test_login_page_has_labelled_fields(client):
    html = client.get("/admin/login").get_data(as_text=True)
    assert '<label for="username">' in html and 'id="username"' in html
    assert '<label for="password">' in html and 'type="password"' in html


def test_login_and_logout(client, auth):
    response = auth.login()
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    response = auth.logout()
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong password"), ("nobody", PASSWORD), ("", ""), ("ALICE", PASSWORD)],
)
def test_wrong_credentials_are_refused(client, auth, username, password):
    response = auth.login(username, password)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Wrong user name or password." in html
    assert client.get("/admin/").status_code == 302


def test_logout_needs_post(client, auth):
    auth.login()
    assert client.get("/admin/logout").status_code == 405
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/posts/new",
        "/admin/posts/1/edit",
    ],
)
def test_admin_pages_redirect_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")


def test_admin_posts_redirect_to_login_without_changing_anything(client, auth):
    token = auth.token()
    response = client.post(
        "/admin/posts/new",
        data={"csrf_token": token, "title": "x", "body": "y", "status": "draft"},
    )
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]


def test_login_returns_to_the_page_asked_for(client, auth):
    location = client.get("/admin/posts/new").headers["Location"]
    html = client.get(location).get_data(as_text=True)
    assert 'name="next" value="/admin/posts/new"' in html
    response = auth.login(next="/admin/posts/new")
    assert response.headers["Location"] == "/admin/posts/new"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/\t/evil.example",
        "evil.example",
    ],
)
def test_login_never_redirects_off_site(auth, target):
    response = auth.login(next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_posts_without_csrf_token_are_refused(client, auth):
    auth.login()
    response = client.post(
        "/admin/posts/new",
        data={"title": "No token", "body": "b", "status": "published"},
    )
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client):
    response = client.post(
        "/admin/login", data={"username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_logout_without_csrf_token_is_refused(client, auth):
    auth.login()
    assert client.post("/admin/logout").status_code == 400
    assert client.get("/admin/").status_code == 200


def test_a_token_from_another_session_is_refused(app, client, auth):
    auth.login()
    other = app.test_client()
    foreign_token = csrf_from(other.get("/admin/login").get_data(as_text=True))
    response = client.post(
        "/admin/posts/new",
        data={
            "csrf_token": foreign_token,
            "title": "Forged",
            "body": "b",
            "status": "published",
        },
    )
    assert response.status_code == 400


def test_logging_in_again_ends_the_previous_session(app, client, auth):
    auth.login()
    stolen = client.get_cookie("session").value
    # The author logs in again on the same browser (another tab, an expired
    # form); the session the old cookie named must be over.
    again = client.post(
        "/admin/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "csrf_token": auth.token("/admin/"),
        },
    )
    assert again.status_code == 302
    assert client.get("/admin/").status_code == 200
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]
    with app.app_context():
        assert session.scalar(select(func.count(LoginSession.id))) == 1


def test_a_new_admin_page_is_behind_the_login_without_a_decorator(app, client, auth):
    # A page someone adds to the admin area later, forgetting any check.
    app.add_url_rule(
        "/admin/new-feature", endpoint="admin.new_feature.page", view_func=lambda: "ok"
    )
    response = client.get("/admin/new-feature")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?next=/admin/new-feature"
    auth.login()
    assert client.get("/admin/new-feature").get_data(as_text=True) == "ok"


def test_flask_login_knows_the_author_of_a_live_session(app, client, auth):
    @app.get("/whoami")
    def whoami():
        return current_user.username if current_user.is_authenticated else "nobody"

    assert client.get("/whoami").get_data(as_text=True) == "nobody"
    auth.login()
    assert client.get("/whoami").get_data(as_text=True) == "alice"
    auth.logout()
    assert client.get("/whoami").get_data(as_text=True) == "nobody"

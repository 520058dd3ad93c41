"""An expired login never costs the text of the post form.

Sent after the login expired, the form is kept on the server under a
one-time token; the login page leads back to the form with the text in it,
not yet saved. Without JavaScript, with the CSRF token of the old session.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select, update

from homepage.core.models import LoginSession, PendingForm, Post, utcnow
from homepage.db import session, write_transaction

from .support import PASSWORD, csrf_from

ORIGIN = {"Origin": "http://localhost"}
TEXT = {
    "title": "Written while the login ran out",
    "body": "An hour of writing.\n\nIt must not be lost.",
    "summary": "",
    "tags": "notes",
    "kind": "post",
    "published_at": "",
    "status": "draft",
    "action": "draft",
}


def open_form(client, auth, path: str = "/admin/posts/new") -> str:
    """Log alice in and open the form at ``path``; return its CSRF token."""
    auth.login()
    return csrf_from(client.get(path).get_data(as_text=True))


def lose_the_cookie(client) -> None:
    """Forget the session cookie, as a browser does when it expires."""
    client.delete_cookie("session")


def pending_rows(app) -> int:
    with app.app_context():
        return session.scalar(select(func.count()).select_from(PendingForm))


def post_count(app) -> int:
    with app.app_context():
        return session.scalar(select(func.count()).select_from(Post))


def login_next(response) -> str:
    """Return the page the login page will lead back to."""
    location = urlsplit(response.headers["Location"])
    assert location.path == "/admin/login"
    return parse_qs(location.query)["next"][0]


def log_in_again(client, next_url: str):
    page = client.get(f"/admin/login?next={next_url}").get_data(as_text=True)
    return client.post(
        "/admin/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "csrf_token": csrf_from(page),
            "next": next_url,
        },
    )


def test_the_text_comes_back_after_logging_in_again(app, client, auth):
    token = open_form(client, auth)
    lose_the_cookie(client)

    sent = client.post(
        "/admin/posts/new", data={"csrf_token": token, **TEXT}, headers=ORIGIN
    )

    assert sent.status_code == 302
    next_url = login_next(sent)
    assert next_url.startswith("/admin/posts/new?pending=")
    assert post_count(app) == 0
    logged_in = log_in_again(client, next_url)
    assert logged_in.headers["Location"] == next_url
    form = client.get(next_url)
    page = form.get_data(as_text=True)
    assert form.status_code == 200
    assert "Your login had expired" in page
    assert f'value="{TEXT["title"]}"' in page
    assert ">An hour of writing.\n\nIt must not be lost.</textarea>" in page
    # Not saved until the author saves.
    assert post_count(app) == 0
    saved = client.post(
        "/admin/posts/new", data={"csrf_token": csrf_from(page), **TEXT}
    )
    assert saved.status_code == 302
    assert post_count(app) == 1


def test_an_edit_form_comes_back_to_its_post_at_its_version(app, client, auth):
    auth.login()
    auth.create_post("Old title", status="draft", action="draft")
    token = csrf_from(client.get("/admin/posts/1/edit").get_data(as_text=True))
    lose_the_cookie(client)

    sent = client.post(
        "/admin/posts/1/edit",
        data={"csrf_token": token, **TEXT, "version": "1"},
        headers=ORIGIN,
    )

    next_url = login_next(sent)
    assert next_url.startswith("/admin/posts/1/edit?pending=")
    log_in_again(client, next_url)
    page = client.get(next_url).get_data(as_text=True)
    assert f'value="{TEXT["title"]}"' in page
    assert 'name="version" value="1"' in page
    with app.app_context():
        assert session.get(Post, 1).title == "Old title"


def test_a_session_expired_on_the_server_keeps_the_text_too(app, client, auth):
    token = open_form(client, auth)
    # The cookie is still there, but its session ran out on the server.
    with app.app_context(), write_transaction():
        session.execute(
            update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )

    sent = client.post(
        "/admin/posts/new", data={"csrf_token": token, **TEXT}, headers=ORIGIN
    )

    next_url = login_next(sent)
    assert next_url.startswith("/admin/posts/new?pending=")
    log_in_again(client, next_url)
    page = client.get(next_url).get_data(as_text=True)
    assert f'value="{TEXT["title"]}"' in page


def test_the_kept_form_opens_once(app, client, auth):
    token = open_form(client, auth)
    lose_the_cookie(client)
    next_url = login_next(
        client.post(
            "/admin/posts/new", data={"csrf_token": token, **TEXT}, headers=ORIGIN
        )
    )
    log_in_again(client, next_url)

    assert TEXT["title"] in client.get(next_url).get_data(as_text=True)
    again = client.get(next_url).get_data(as_text=True)

    assert TEXT["title"] not in again
    assert "no longer there" in again
    assert pending_rows(app) == 0


def test_a_form_from_another_site_is_refused_and_nothing_is_kept(app, client, auth):
    token = open_form(client, auth)
    lose_the_cookie(client)

    sent = client.post(
        "/admin/posts/new",
        data={"csrf_token": token, **TEXT},
        headers={"Origin": "https://evil.example"},
    )

    assert sent.status_code == 400
    assert pending_rows(app) == 0


def test_a_form_without_origin_or_referrer_is_refused(app, client, auth):
    token = open_form(client, auth)
    lose_the_cookie(client)

    sent = client.post("/admin/posts/new", data={"csrf_token": token, **TEXT})

    assert sent.status_code == 400
    assert pending_rows(app) == 0


def test_a_referrer_from_this_site_will_do(app, client, auth):
    token = open_form(client, auth)
    lose_the_cookie(client)

    sent = client.post(
        "/admin/posts/new",
        data={"csrf_token": token, **TEXT},
        headers={"Referer": "http://localhost/admin/posts/new"},
    )

    assert sent.status_code == 302
    assert pending_rows(app) == 1


def test_other_forms_are_not_kept(app, client, auth):
    token = open_form(client, auth)
    lose_the_cookie(client)

    sent = client.post(
        "/admin/account/password",
        data={"csrf_token": token, "new_password": "x" * 20},
        headers=ORIGIN,
    )

    assert sent.status_code in (400, 404, 405)
    assert pending_rows(app) == 0


def test_a_kept_form_is_bounded_like_the_form(app, client, auth):
    token = open_form(client, auth)
    lose_the_cookie(client)

    sent = client.post(
        "/admin/posts/new",
        data={"csrf_token": token, **TEXT, "body": "x" * 1_000_001},
        headers=ORIGIN,
    )

    assert sent.status_code == 400
    assert pending_rows(app) == 0


def test_a_wrong_token_opens_the_plain_form(client, auth):
    auth.login()

    page = client.get("/admin/posts/new?pending=made-up").get_data(as_text=True)

    assert "no longer there" in page
    assert TEXT["title"] not in page


def test_a_token_for_one_post_does_not_open_another(app, client, auth):
    auth.login()
    auth.create_post("First", status="draft", action="draft")
    token = csrf_from(client.get("/admin/posts/new").get_data(as_text=True))
    lose_the_cookie(client)
    next_url = login_next(
        client.post(
            "/admin/posts/new", data={"csrf_token": token, **TEXT}, headers=ORIGIN
        )
    )
    pending = parse_qs(urlsplit(next_url).query)["pending"][0]
    auth.login()

    page = client.get(f"/admin/posts/1/edit?pending={pending}").get_data(as_text=True)

    assert TEXT["title"] not in page
    assert pending_rows(app) == 1


def test_the_login_page_never_leads_off_the_site(client, auth):
    response = auth.login(next="//evil.example/admin/posts/new?pending=x")

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_kept_forms_are_bounded_in_number(app, client, auth, monkeypatch):
    monkeypatch.setattr("homepage.core.autosave.MAX_PENDING", 3)
    token = open_form(client, auth)
    lose_the_cookie(client)

    for number in range(5):
        client.post(
            "/admin/posts/new",
            data={"csrf_token": token, **TEXT, "title": f"Form {number}"},
            headers=ORIGIN,
        )

    assert pending_rows(app) == 3

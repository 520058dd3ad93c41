"""The admin forms: one validation of a post, CSRF on every form, bounded input."""

from __future__ import annotations

import ast
import html
import io
import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, select

from homepage.admin import account
from homepage.admin import auth as login_views
from homepage.core.models import Author, LoginSession
from homepage.db import session
from homepage.ops import transfer

from .authors_support import add_author, everything
from .image_files import png_with_text as png
from .support import PASSWORD, AuthActions

# Many requests per test: too slow for make test-fast.
pytestmark = pytest.mark.slow

NESTED_TOO_DEEP = "- " * 6 + "x"

#: Bad posts, as (field, value, the message an author is shown). Tags are a
#: list, as an imported file has them; the admin form gets them comma-joined.
BAD_POSTS = [
    ("title", "", "Give the post a title."),
    ("title", "   ", "Give the post a title."),
    ("title", "t" * 201, "Keep the title under 200 characters."),
    ("slug", "Not A Slug", "Use lower-case letters a-z, digits and single hyphens"),
    ("slug", "ünïcode", "Use lower-case letters a-z, digits and single hyphens"),
    ("slug", "a--b", "Use lower-case letters a-z, digits and single hyphens"),
    ("slug", "s" * 81, "Use lower-case letters a-z, digits and single hyphens"),
    ("body", "", "Write something in the body."),
    ("body", " \n ", "Write something in the body."),
    ("body", "x" * 1_000_001, "The body is too long: keep it under 1,000,000 bytes."),
    ("body", NESTED_TOO_DEEP, "nested more than 4 deep"),
    ("summary", "s" * 2001, "Keep the summary under 2000 characters."),
    ("tags", ["a/b"], 'Tags cannot contain "/", "?" or "#".'),
    ("tags", ["t" * 65], "Keep each tag under 64 characters."),
    ("tags", [f"t{n}" for n in range(21)], "Use at most 20 tags."),
    ("tags", [f"tag{n}" for n in range(500)], "Use at most 20 tags of at most 64"),
    ("tags", ["."], 'A tag cannot be "." or "..".'),
    ("tags", ["bell\x07"], "Tags cannot contain control characters."),
    ("status", "archived", "Choose draft or published."),
]


def import_message(app: Flask, field: str, value) -> str:
    """Import a post with ``field`` set to ``value``; return what the report says."""
    fields = {"title": "Hello", "slug": "hello", "body": "The body of Hello."}
    parsed = transfer.Parsed(**{**fields, field: value})
    report = transfer.Report()
    with app.app_context():
        alice = session.scalars(select(Author)).one()
        transfer.import_post(parsed, alice, False, "hello.md", report)
        session.rollback()
    assert report.counts["failed"] == 1, report.lines
    return report.lines[0].split("hello.md: ", 1)[1]


def form_message(app: Flask, auth: AuthActions, field: str, value) -> str:
    """Submit the post form with ``field`` set to ``value``; return its error."""
    if isinstance(value, list):
        value = ", ".join(value)
    fields = {"title": "Hello", "body": "The body of Hello.", field: value}
    before = everything(app)
    response = auth.create_post(**fields)
    assert response.status_code == 400
    assert everything(app) == before
    page = response.get_data(as_text=True)
    found = re.search(f'<span class="error" id="{field}-error">([^<]*)</span>', page)
    assert found, page
    return html.unescape(found.group(1))


@pytest.mark.parametrize(("field", "value", "message"), BAD_POSTS)
def test_the_importer_and_the_form_refuse_a_post_alike(
    app, auth, field, value, message
):
    auth.login()
    imported = import_message(app, field, value)
    typed = form_message(app, auth, field, value)
    assert imported == typed
    assert message in typed


def test_the_importer_and_the_form_list_every_wrong_field(app, auth):
    # Both name every wrong field, in the form's order.
    auth.login()
    parsed = transfer.Parsed(title="", slug="Bad", body="", summary="s" * 2001)
    report = transfer.Report()
    with app.app_context():
        alice = session.scalars(select(Author)).one()
        transfer.import_post(parsed, alice, False, "bad.md", report)
    assert report.lines == [
        "failed    bad.md: Give the post a title. Use lower-case letters a-z, "
        "digits and single hyphens, at most 80 characters, or leave it empty. "
        "Write something in the body. Keep the summary under 2000 characters."
    ]
    response = auth.create_post(title="", slug="Bad", body="", summary="s" * 2001)
    page = response.get_data(as_text=True)
    for field in ("title", "slug", "body", "summary"):
        assert f'<span class="error" id="{field}-error">' in page


# -- CSRF on every form -----------------------------------------------------------


def post_one(app: Flask) -> None:
    """Let alice write post 1 (with version 1 kept) and upload image 1; add bob."""
    add_author(app, "bob")
    auth = AuthActions(app.test_client())
    auth.login()
    assert auth.create_post("Kept").status_code == 302
    edited = auth.post_form(
        "/admin/posts/1/edit",
        title="Kept",
        body="Changed.",
        status="published",
        action="save",
    )
    assert edited.status_code == 302
    uploaded = auth.post_form("/admin/images/", image=(io.BytesIO(png()), "a.png"))
    assert uploaded.status_code == 302


def post_fields() -> dict:
    return {"title": "Forged", "body": "Forged.", "status": "published"}


#: Every form an author posts, as (path, fields); the fields would be accepted
#: with a token.
FORMS = {
    "new post": ("/admin/posts/new", lambda: {**post_fields(), "action": "save"}),
    "edit post": (
        "/admin/posts/1/edit",
        lambda: {**post_fields(), "version": "2", "action": "save"},
    ),
    "upload into post": (
        "/admin/posts/1/image",
        lambda: {**post_fields(), "image": (io.BytesIO(png()), "b.png")},
    ),
    "upload into new post": (
        "/admin/posts/new/image",
        lambda: {**post_fields(), "image": (io.BytesIO(png()), "c.png")},
    ),
    "upload": ("/admin/images/", lambda: {"image": (io.BytesIO(png()), "d.png")}),
    "password": (
        "/admin/account/password",
        lambda: {
            "current_password": PASSWORD,
            "new_password": "a forged new password",
            "confirm_password": "a forged new password",
        },
    ),
    "add author": (
        "/admin/account/authors",
        lambda: {
            "author_username": "mallory",
            "author_password": "mallory's password",
            "author_role": "owner",
        },
    ),
    "role": ("/admin/account/authors/2/role", lambda: {"role": "editor"}),
}


@pytest.mark.parametrize(("path", "fields"), FORMS.values(), ids=FORMS.keys())
@pytest.mark.parametrize("token", [None, "forged"])
def test_every_form_refuses_a_missing_or_forged_token(
    app, client, auth, path, fields, token
):
    post_one(app)
    auth.login()
    before = everything(app)
    data = fields() if token is None else {**fields(), "csrf_token": token}
    response = client.post(path, data=data)
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert everything(app) == before
    # Alice's password still opens the site.
    assert AuthActions(app.test_client()).login().status_code == 302


@pytest.fixture
def unguarded(make_app) -> Flask:
    """Return an app whose global CSRF check is off, as if a view were exempt."""
    return make_app(WTF_CSRF_CHECK_DEFAULT=False)


@pytest.mark.parametrize(("path", "fields"), FORMS.values(), ids=FORMS.keys())
def test_each_form_checks_the_token_itself(unguarded, path, fields):
    post_one(unguarded)
    client = unguarded.test_client()
    AuthActions(client).login()
    before = everything(unguarded)
    response = client.post(path, data={**fields(), "csrf_token": "forged"})
    assert response.status_code == 400
    assert everything(unguarded) == before
    # Alice's password still opens the site.
    assert AuthActions(unguarded.test_client()).login().status_code == 302


@pytest.mark.parametrize(("path", "fields"), FORMS.values(), ids=FORMS.keys())
def test_each_form_takes_its_fields_with_a_token(unguarded, path, fields):
    # The control for the test above: only the token made it refuse.
    post_one(unguarded)
    auth = AuthActions(unguarded.test_client())
    auth.login()
    before = everything(unguarded)
    response = auth.post_form(path, **fields())
    assert response.status_code in {200, 302}
    assert everything(unguarded) != before


def test_the_login_form_checks_the_token_itself(unguarded):
    client = unguarded.test_client()
    response = client.post(
        "/admin/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": "forged"},
    )
    assert response.status_code == 400
    assert "Wrong user name or password." in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    assert AuthActions(client).login().status_code == 302


# -- hostile input, bounded before costly work -------------------------------------


@pytest.fixture
def hashing(monkeypatch) -> list[str]:
    """Record every password the admin views hash or check."""
    seen: list[str] = []

    def recording(module, name: str) -> None:
        original = getattr(module, name)

        def record(*args):
            seen.append(args[-1])
            return original(*args)

        monkeypatch.setattr(module, name, record)

    recording(account, "hash_password")
    recording(account, "password_matches")
    recording(login_views, "password_matches")
    return seen


LONG = "p" * 1025


def test_an_over_long_login_password_is_refused_unhashed(client, auth, hashing):
    response = auth.login(password=LONG)
    assert response.status_code == 400
    assert "Wrong user name or password." in response.get_data(as_text=True)
    assert LONG not in hashing
    assert client.get("/admin/").status_code == 302


def test_an_over_long_new_password_is_refused_unhashed(app, client, auth, hashing):
    auth.login()
    response = auth.post_form(
        "/admin/account/password",
        current_password=PASSWORD,
        new_password=LONG,
        confirm_password=LONG,
    )
    assert response.status_code == 400
    assert "Use at most 1024 characters." in response.get_data(as_text=True)
    assert LONG not in hashing
    auth.logout()
    assert auth.login(password=PASSWORD).status_code == 302


def test_an_over_long_author_password_is_refused_unhashed(app, auth, hashing):
    auth.login()
    before = everything(app)
    response = auth.post_form(
        "/admin/account/authors",
        author_username="bob",
        author_password=LONG,
        author_role="author",
    )
    assert response.status_code == 400
    assert "Use at most 1024 characters." in response.get_data(as_text=True)
    assert LONG not in hashing
    assert everything(app) == before


def test_a_short_new_password_is_the_only_error_shown(auth):
    # The confirmation is compared only once the new password is right.
    auth.login()
    response = auth.post_form(
        "/admin/account/password",
        current_password=PASSWORD,
        new_password="short",
        confirm_password="different",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="new_password-error">Use at least 8 characters.' in page
    assert "confirm_password-error" not in page


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"title": 5, "body": ["x"], "tags": {"a": 1}, "action": "save"}},
        {
            "data": {
                "title": (io.BytesIO(b"a file"), "title.txt"),
                "body": (io.BytesIO(b"a file"), "body.txt"),
                "status": "published",
                "action": "save",
            }
        },
    ],
    ids=["json", "files"],
)
def test_the_post_form_reads_only_text_fields(app, client, auth, kwargs):
    # Flask-WTF alone would bind a JSON body, whose values need not be
    # strings, and a file sent under a text field's name.
    auth.login()
    before = everything(app)
    response = client.post(
        "/admin/posts/new",
        headers={"X-CSRFToken": auth.token("/admin/posts/new")},
        **kwargs,
    )
    assert response.status_code == 400
    assert "Give the post a title." in response.get_data(as_text=True)
    assert everything(app) == before


# -- the views use the forms ---------------------------------------------------------

ADMIN = Path(__file__).resolve().parent.parent / "homepage" / "admin"


def request_field_reads(path: Path) -> list[str]:
    """Return where a module reads ``request.form`` or ``request.files`` itself."""
    tree = ast.parse(path.read_text(), str(path))
    return [
        f"{path.name}:{node.lineno} request.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in {"form", "files", "values"}
        and isinstance(node.value, ast.Name)
        and node.value.id == "request"
    ]


def test_admin_views_read_fields_only_through_forms():
    found = [
        read
        for path in sorted(ADMIN.glob("*.py"))
        if path.name != "forms.py"
        for read in request_field_reads(path)
    ]
    assert found == []


def test_a_dead_sessions_cookie_does_not_spoil_the_login_form(app, client, auth):
    # Looking the author up clears a dead session's cookie, CSRF token and
    # all; the login form must carry a token made after that.
    auth.login()
    with app.app_context():
        session.execute(delete(LoginSession))
        session.commit()
    assert auth.login().status_code == 302
    assert client.get("/admin/").status_code == 200

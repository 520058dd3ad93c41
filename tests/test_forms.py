"""The admin forms: one validation of a post, for the form and the importer."""

from __future__ import annotations

import html
import io
import re

import pytest
from flask import Flask
from sqlalchemy import select

from homepage.core.models import Author
from homepage.db import session
from homepage.ops import transfer

from .authors_support import everything
from .support import AuthActions

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


# -- what the form reads ----------------------------------------------------------


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

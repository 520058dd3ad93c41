"""An image chosen in the post form is never lost, and lands where the cursor was."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select

from homepage.admin.images import cursor_index, insert_block
from homepage.core.models import Image, Post
from homepage.db import session


def png() -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (4, 3), (30, 120, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def count(app, model) -> int:
    with app.app_context():
        return session.scalar(select(func.count()).select_from(model))


def textarea(html: str) -> str:
    match = re.search(r'<textarea id="body"[^>]*>(.*?)</textarea>', html, re.S)
    assert match
    return match.group(1).replace("&#34;", '"').replace("&#39;", "'")


@pytest.fixture
def author(auth):
    auth.login()
    return auth


@pytest.mark.parametrize("action", ["draft", "publish", "save"])
def test_save_with_a_chosen_file_refuses_and_keeps_the_text(app, author, action):
    # Without multipart encoding (the Save buttons), the browser sends only
    # the chosen file's name.
    response = author.create_post(
        "With a photo",
        body="My words.",
        summary="Short.",
        tags="trips",
        action=action,
        image="beach.png",
        image_alt="The beach",
    )
    assert response.status_code == 400
    html = response.text
    assert (
        "The post was not saved: the image “beach.png” is chosen but was not uploaded."
        in html
    )
    assert 'role="alert"' in html
    assert "My words.</textarea>" in html
    assert 'value="With a photo"' in html
    assert 'value="trips"' in html
    assert 'value="The beach"' in html
    assert count(app, Post) == 0


def test_a_file_sent_with_save_is_refused_too(app, author):
    response = author.create_post(
        "Multipart", body="b", action="draft", image=(io.BytesIO(png()), "sea.png")
    )
    assert response.status_code == 400
    assert "the image “sea.png” is chosen but was not uploaded" in response.text
    assert count(app, Post) == 0 and count(app, Image) == 0


def test_save_without_a_file_still_saves(app, author):
    response = author.create_post("Plain", action="draft", image="")
    assert response.status_code == 302


def test_the_upload_returns_to_the_body(client, author):
    html = client.get("/admin/posts/new").text
    assert 'formaction="/admin/posts/new/image#body"' in html
    assert '<input type="hidden" name="cursor" id="cursor" value="">' in html
    assert re.search(
        r'<script type="module" src="/static/editor\.js\?v=[0-9a-f]+"></script>', html
    )
    with client.get("/static/editor.js") as script:
        assert script.status_code == 200
        assert script.mimetype in ("text/javascript", "application/javascript")
        assert (
            'cursor.value = placed ? String(body.selectionStart) : "";' in script.text
        )


def test_an_uploaded_image_goes_where_the_cursor_was(author):
    body = "First paragraph.\r\n\r\nSecond paragraph."
    response = author.post_form(
        "/admin/posts/new/image",
        title="Photos",
        body=body,
        cursor=str(len("First paragraph.\n")),
        image=(io.BytesIO(png()), "sea.png"),
        image_alt="The sea",
    )
    assert response.status_code == 200
    text = textarea(response.text)
    assert re.fullmatch(
        r"First paragraph\.\n\n!\[The sea\]\(/media/[0-9a-f]+\.png\)\n\n"
        r"Second paragraph\.",
        text,
    ), text
    assert "added at the cursor" in response.text


def test_without_a_cursor_the_image_goes_at_the_end(author):
    response = author.post_form(
        "/admin/posts/new/image",
        title="Photos",
        body="Only words.",
        cursor="",
        image=(io.BytesIO(png()), "sea.png"),
        image_alt="x",
    )
    assert re.fullmatch(
        r"Only words\.\n\n!\[x\]\(/media/[0-9a-f]+\.png\)\n", textarea(response.text)
    )
    assert "added to the end of the body" in response.text


@pytest.mark.parametrize(
    ("text", "cursor", "expected"),
    [
        ("abc", "0", 0),
        ("abc", "3", 3),
        ("abc", "4", None),
        ("a\r\nb", "2", 3),  # the browser counts the line break once
        ("😀x", "2", 1),  # and an emoji twice
        ("abc", "", None),
        ("abc", "-1", None),
        ("abc", "１", None),
        ("abc", "9" * 40, None),
    ],
)
def test_cursor_offsets_are_read_as_browsers_count(text, cursor, expected):
    assert cursor_index(text, cursor) == expected


def test_a_block_inserted_mid_text_is_a_paragraph_of_its_own():
    assert insert_block("one two", "![x](/m.png)", 3) == "one\n\n![x](/m.png)\n\ntwo"
    assert insert_block("", "![x](/m.png)", 0) == "![x](/m.png)\n"

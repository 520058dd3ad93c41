"""Post summaries rendered once per process, for exactly what they show."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from homepage.reader.templating import FRAGMENTS_KEY

from .reader_support import edit_post, set_published_at
from .support import AuthActions


@pytest.fixture
def blog(make_app):
    """An app without the page cache, so every view renders; alice logged in."""
    app = make_app("fragments.db", PAGE_CACHE_ENTRIES=0)
    auth = AuthActions(app.test_client())
    auth.login()
    assert auth.create_post("First words", tags="news").status_code == 302
    return app, auth


def test_an_edited_post_shows_its_new_summary_in_every_list(blog):
    app, auth = blog
    reader = app.test_client()
    assert "First words" in reader.get("/").get_data(as_text=True)

    edit_post(auth, app, "first-words", title="Better words", tags="news, craft")

    for path in ("/", "/tags/news"):
        page = reader.get(path).get_data(as_text=True)
        assert ">Better words</a>" in page and ">First words</a>" not in page
        assert 'href="/tags/craft"' in page


def test_a_new_date_without_an_edit_shows_too(blog):
    # Bulk changes that bypass the save path (like this helper's) change the
    # row, and the row is the summary's key.
    app, _auth = blog
    reader = app.test_client()
    assert "datetime=" in reader.get("/").get_data(as_text=True)

    set_published_at(app, "first-words", datetime(2001, 2, 3, 4, 5, tzinfo=UTC))

    assert 'datetime="2001-02-03T04:05:00Z"' in reader.get("/").get_data(as_text=True)


def test_the_summaries_a_process_keeps_are_bounded(make_app):
    app = make_app("bounded.db", PAGE_CACHE_ENTRIES=0, FRAGMENT_CACHE_ENTRIES=3)
    auth = AuthActions(app.test_client())
    auth.login()
    for number in range(12):
        assert auth.create_post(f"Post {number}").status_code == 302

    page = app.test_client().get("/").get_data(as_text=True)

    assert all(f"Post {number}" in page for number in range(2, 12))
    assert 0 < len(app.extensions[FRAGMENTS_KEY].rendered) <= 3


def test_no_summary_is_kept_when_they_are_turned_off(make_app):
    app = make_app("off.db", PAGE_CACHE_ENTRIES=0, FRAGMENT_CACHE_ENTRIES=0)
    auth = AuthActions(app.test_client())
    auth.login()
    assert auth.create_post("Kept nowhere").status_code == 302

    assert "Kept nowhere" in app.test_client().get("/").get_data(as_text=True)
    assert app.extensions[FRAGMENTS_KEY].rendered == {}

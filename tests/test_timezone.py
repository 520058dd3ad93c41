"""Dates in the site's time zone: shown to readers, typed by authors, kept in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from homepage.core.models import Post
from homepage.db import session

from .support import AuthActions

BERLIN = "Europe/Berlin"


@pytest.fixture
def berlin(make_app):
    return make_app(SITE_TIMEZONE=BERLIN)


@pytest.fixture
def author(berlin):
    actions = AuthActions(berlin.test_client())
    actions.login()
    return actions


def published_at(app, title: str) -> datetime:
    with app.app_context():
        return session.scalars(
            select(Post.published_at).where(Post.title == title)
        ).one()


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        # Winter time, UTC+1, the night clocks go forward (29 March 2026).
        ("2026-03-29T01:30", datetime(2026, 3, 29, 0, 30, tzinfo=UTC)),
        # Summer time, UTC+2, the same night.
        ("2026-03-29T03:30", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        # Back to winter time in October.
        ("2026-10-25T04:00", datetime(2026, 10, 25, 3, 0, tzinfo=UTC)),
        # Typed by hand in the text field, with a space.
        ("2026-07-01 12:00", datetime(2026, 7, 1, 10, 0, tzinfo=UTC)),
    ],
)
def test_the_author_types_dates_in_the_sites_zone(berlin, author, typed, stored):
    response = author.create_post("Dated", published_at=typed)
    assert response.status_code == 302, response.text
    assert published_at(berlin, "Dated") == stored


def test_the_form_shows_the_zone_and_the_date_as_typed(berlin, author):
    response = author.create_post("Summer", published_at="2026-03-29T03:30")
    page = author._client.get(response.headers["Location"]).text
    assert 'Publish date <span class="hint">(Europe/Berlin, optional)</span>' in page
    assert 'value="2026-03-29T03:30"' in page


def test_readers_see_the_date_in_the_sites_zone(berlin, author):
    # 1 April 01:30 in Berlin is still 31 March in UTC.
    author.create_post("April", published_at="2026-04-01T01:30")
    assert published_at(berlin, "April") == datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    page = berlin.test_client().get("/posts/april").text
    assert '<time datetime="2026-03-31T23:30:00Z">1 April 2026</time>' in page
    assert "1 April 2026" in berlin.test_client().get("/").text


def test_a_scheduled_post_says_when_in_the_sites_zone(berlin, author):
    response = author.create_post(
        "Future", action="publish", published_at="2999-07-01T09:15"
    )
    page = author._client.get(response.headers["Location"]).text
    assert "Scheduled “Future” for 1 July 2999, 09:15 (Europe/Berlin)." in page


def test_a_bad_date_names_the_zone_and_the_format_the_field_shows(berlin, author):
    response = author.create_post("Bad", published_at="tomorrow")
    assert response.status_code == 400
    assert (
        "Enter a date and time in Europe/Berlin, such as 2026-03-05T14:30"
        in response.text
    )
    # The field turns to plain text, showing what was typed in that format.
    assert 'type="text" value="tomorrow"' in response.text


def test_an_unknown_zone_is_refused_at_startup(make_app):
    with pytest.raises(RuntimeError, match="SITE_TIMEZONE 'Mars/Olympus'"):
        make_app(SITE_TIMEZONE="Mars/Olympus")


def test_the_doctor_checks_the_zone(berlin):
    result = berlin.test_cli_runner().invoke(args=["doctor"])
    assert "time zone" in result.output
    assert "in Europe/Berlin" in result.output
    berlin.config["SITE_TIMEZONE"] = "Nowhere/Atall"
    result = berlin.test_cli_runner().invoke(args=["doctor"])
    assert "FAIL time zone" in " ".join(result.output.split())

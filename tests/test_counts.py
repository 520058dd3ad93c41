"""Counts of posts per tag and per month follow every change an author makes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from homepage.core import counts
from homepage.core.models import Post, PostCount, Tag, post_tags, utcnow
from homepage.db import session

from .reader_support import edit_post

THIS_MONTH = counts.month_key(utcnow())


def stored(app) -> dict[tuple[str, str], int]:
    """Return the stored counts, by scope and key (tags by name), zeros left out."""
    with app.app_context():
        return counts_in_session()


def everything(app) -> dict:
    """Return the stored counts and every tag link's listing date."""
    with app.app_context():
        return stored_in_session()


def recounted(app) -> dict[tuple[str, str], int]:
    """Return what counting every post afresh gives, in a transaction rolled back."""
    with app.app_context():
        counts.recount(session.connection())
        result = stored_in_session()
        session.rollback()
        return result


def listings_in_session() -> dict[tuple[int, int], object]:
    """Return each tag link's listing date, as the current transaction sees it."""
    return {
        (post_id, tag_id): listed_at
        for post_id, tag_id, listed_at in session.execute(
            select(post_tags.c.post_id, post_tags.c.tag_id, post_tags.c.listed_at)
        )
    }


def stored_in_session() -> dict:
    """Return the counts and listing dates the current transaction sees."""
    return {**counts_in_session(), **listings_in_session()}


def counts_in_session() -> dict[tuple[str, str], int]:
    """Return the counts the current transaction sees."""
    names = {
        str(tag_id): name for tag_id, name in session.execute(select(Tag.id, Tag.name))
    }
    return {
        (scope, names.get(key, key) if scope == counts.TAG else key): count
        for scope, key, count in session.execute(
            select(PostCount.scope, PostCount.key, PostCount.count)
        )
        if count
    }


def visible(app, scope: str) -> dict[str, int]:
    with app.app_context():
        return counts.visible_counts(scope, utcnow())


@pytest.fixture
def writer(auth):
    auth.login()
    return auth


def test_counts_follow_every_change_to_posts(app, writer):
    steps = [
        lambda: writer.create_post("One", tags="python, web"),
        lambda: writer.create_post("Two", tags="python"),
        lambda: writer.create_post("Draft", tags="python, secret", status="draft"),
        lambda: edit_post(writer, app, "one", tags="web, rust"),
        lambda: edit_post(writer, app, "two", status="draft"),
        lambda: edit_post(writer, app, "draft", status="published"),
        lambda: edit_post(writer, app, "one", published_at="2024-02-03T10:00"),
        lambda: edit_post(writer, app, "draft", kind="page"),
        lambda: writer.post_form(f"/admin/posts/{post_id(app, 'one')}/delete"),
    ]
    for step in steps:
        assert step().status_code == 302
        assert everything(app) == recounted(app)
    assert stored(app) == {}
    assert visible(app, counts.TAG) == {}


def test_the_tags_and_months_say_how_many_posts_readers_see(app, writer):
    writer.create_post("One", tags="python, web")
    writer.create_post("Two", tags="python")
    writer.create_post("Old", tags="python", published_at="2024-02-03T10:00")
    writer.create_post("Hidden", tags="python", status="draft")
    with app.app_context():
        tags = {str(tag.id): tag.name for tag in session.scalars(select(Tag))}
    by_name = {tags[key]: n for key, n in visible(app, counts.TAG).items()}
    assert by_name == {"python": 3, "web": 1}
    assert visible(app, counts.MONTH) == {THIS_MONTH: 2, "2024-02": 1}


def test_a_scheduled_post_is_counted_once_it_is_due(app, writer):
    soon = utcnow() + timedelta(minutes=5)
    writer.create_post(
        "Soon", tags="later", published_at=soon.strftime("%Y-%m-%dT%H:%M")
    )
    # Stored already, so that no write is needed when the date comes.
    assert stored(app)[(counts.TAG, "later")] == 1
    assert visible(app, counts.TAG) == {}
    with app.app_context():
        assert counts.visible_counts(counts.TAG, soon + timedelta(minutes=1))


def test_a_failed_save_changes_no_count(app, writer):
    writer.create_post("One", tags="python")
    before = stored(app)
    with app.app_context():
        post = session.scalars(select(Post)).one()
        post.status = "draft"
        session.flush()
        session.rollback()
    assert stored(app) == before
    assert everything(app) == recounted(app)


def test_init_db_recounts_a_database_changed_behind_its_back(app, writer, runner):
    writer.create_post("One", tags="python")
    with app.app_context():
        session.execute(PostCount.__table__.delete())
        session.commit()
    assert stored(app) == {}
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert stored(app) == {(counts.TAG, "python"): 1, (counts.MONTH, THIS_MONTH): 1}


def post_id(app, slug: str) -> int:
    with app.app_context():
        return session.scalars(select(Post.id).where(Post.slug == slug)).one()

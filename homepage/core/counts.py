"""How many posts each tag and month holds, and each tag's list: kept on every flush.

Counting posts on every page would cost time in proportion to the blog's size:
at 100,000 posts the tags page alone joined 300,000 rows. Instead each flush
that adds, removes, publishes, unpublishes, re-dates or re-tags a post adds or
subtracts one in ``post_counts``, in the same transaction, and pages read a few
rows. The stored counts include published posts whose date has not come yet;
readers' counts subtract those at read time (see :func:`visible_counts`).

The same flushes keep ``post_tags.listed_at``, the date by which each tag's
page lists the post (NULL while it is not listed), in an index of its own.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, scoped_session

from ..db import read_rows, session
from .models import (
    POST,
    Post,
    PostCount,
    Tag,
    post_columns,
    post_tags,
    scheduled_criteria,
    visible_at,
    visible_criteria,
)
from .sql import month_of

TAG = "tag"
MONTH = "month"

#: A moment after every publish date: what is counted is what readers will see.
_END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)

#: Where a flush keeps its pending changes between before_flush and after_flush.
_PENDING = "homepage.post_count_changes"
#: And the posts whose tag links need their listing date set again.
_RELISTED = "homepage.post_relisted"

_ADD = text(
    "INSERT INTO post_counts (scope, key, count) VALUES (:scope, :key, :change) "
    "ON CONFLICT (scope, key) DO UPDATE SET count = post_counts.count + :change"
)


def month_key(moment: datetime) -> str:
    """Return the key of ``moment``'s month, "YYYY-MM" in UTC."""
    return f"{moment:%Y-%m}"


def _old(post: Post, name: str):
    history = inspect(post).attrs[name].history
    return history.deleted[0] if history.deleted else getattr(post, name)


def _counted(kind, status, published_at, deleted_at) -> bool:
    """Tell whether a post of this kind, status and date counts: it will be seen."""
    return kind == POST and visible_at(status, published_at, _END_OF_TIME, deleted_at)


def _tags_before_and_after(post: Post) -> tuple[list[Tag], list[Tag]]:
    history = inspect(post).attrs.tags.history
    if history.added or history.deleted:
        unchanged = list(history.unchanged)
        return unchanged + list(history.deleted), unchanged + list(history.added)
    # Not changed, so what the database holds (loaded here if need be) is
    # both the old and the new list.
    tags = list(post.tags)
    return tags, tags


def _note_changes(db_session: Session, _context, _instances) -> None:
    """Work out, before the flush, what it changes in the counts."""
    changes: Counter = db_session.info.setdefault(_PENDING, Counter())
    relisted: list[Post] = db_session.info.setdefault(_RELISTED, [])
    for post in db_session.new:
        if isinstance(post, Post):
            _count(changes, _state(post), post.tags, +1)
            relisted.append(post)
    for post in db_session.deleted:
        if isinstance(post, Post):
            old_tags, _ = _tags_before_and_after(post)
            _count(changes, _old_state(post), old_tags, -1)
    for post in db_session.dirty:
        if not isinstance(post, Post) or not db_session.is_modified(post):
            continue
        old_tags, new_tags = _tags_before_and_after(post)
        _count(changes, _old_state(post), old_tags, -1)
        _count(changes, _state(post), new_tags, +1)
        relisted.append(post)


#: What decides whether a post counts, in the order :func:`_counted` takes it.
_STATE = ("kind", "status", "published_at", "deleted_at")


def _state(post: Post) -> tuple:
    return tuple(getattr(post, name) for name in _STATE)


def _old_state(post: Post) -> tuple:
    return tuple(_old(post, name) for name in _STATE)


def _count(changes: Counter, state: tuple, tags, sign: int) -> None:
    if not _counted(*state):
        return
    published_at = state[2]
    changes[(MONTH, month_key(published_at))] += sign
    for tag in tags:
        changes[(TAG, tag)] += sign


def _apply_changes(db_session: Session, _context) -> None:
    """Write what the flush changed in the counts, in its transaction."""
    changes: Counter = db_session.info.pop(_PENDING, Counter())
    relisted: list[Post] = db_session.info.pop(_RELISTED, [])
    if relisted:
        # The links a flush wrote are in place now; date them all, a post's
        # new tags included.
        db_session.connection().execute(
            update(post_tags)
            .where(post_tags.c.post_id == bindparam("post"))
            .values(listed_at=bindparam("listed")),
            [
                {
                    "post": post.id,
                    "listed": post.published_at if _counted(*_state(post)) else None,
                }
                for post in relisted
            ],
        )
    rows = [
        {
            "scope": scope,
            "key": str(key.id if isinstance(key, Tag) else key),
            "change": n,
        }
        for (scope, key), n in changes.items()
        if n
    ]
    if rows:
        db_session.connection().execute(_ADD, rows)


def _forget_changes(db_session: Session, *_args) -> None:
    # A flush that failed leaves nothing to apply; the next one starts afresh.
    db_session.info.pop(_PENDING, None)
    db_session.info.pop(_RELISTED, None)


def watch(db_session: scoped_session) -> None:
    """Keep the counts in step with every flush of ``db_session``."""
    for name, listener in (
        ("before_flush", _note_changes),
        ("after_flush", _apply_changes),
        ("after_soft_rollback", _forget_changes),
    ):
        if not event.contains(db_session, name, listener):
            event.listen(db_session, name, listener)


def recount(connection: Connection) -> None:
    """Count every tag and month afresh (``init-db``, after a bulk change)."""
    counted = (Post.kind == POST, *visible_criteria(_END_OF_TIME))
    connection.execute(delete(PostCount))
    tags = connection.execute(
        select(post_tags.c.tag_id, func.count())
        .join(Post, Post.id == post_tags.c.post_id)
        .where(*counted)
        .group_by(post_tags.c.tag_id)
    ).all()
    month = month_of(Post.published_at)
    months = connection.execute(
        select(month, func.count()).where(*counted).group_by(month)
    ).all()
    rows = [{"scope": TAG, "key": str(tag_id), "count": n} for tag_id, n in tags]
    rows += [{"scope": MONTH, "key": month, "count": n} for month, n in months]
    if rows:
        connection.execute(insert(PostCount), rows)
    listed = (
        select(Post.published_at)
        .where(Post.id == post_tags.c.post_id, *counted)
        .scalar_subquery()
    )
    connection.execute(update(post_tags).values(listed_at=listed))


def visible_counts(scope: str, now: datetime) -> dict[str, int]:
    """Return how many posts readers see now, by key of ``scope``; zeros left out."""
    counts = dict(
        session.execute(
            select(PostCount.key, PostCount.count).where(PostCount.scope == scope)
        ).all()
    )
    # Scheduled posts are counted but not yet seen; there are few of them,
    # found through the index on (status, published_at).
    if scope == TAG:
        scheduled = session.execute(
            select(post_tags.c.tag_id, func.count())
            .join(Post, Post.id == post_tags.c.post_id)
            .where(Post.kind == POST, *scheduled_criteria(now))
            .group_by(post_tags.c.tag_id)
        ).all()
        pending = Counter({str(tag_id): n for tag_id, n in scheduled})
    else:
        dates = session.scalars(
            select(Post.published_at).where(Post.kind == POST, *scheduled_criteria(now))
        )
        pending = Counter(month_key(date) for date in dates if date)
    visible = {key: count - pending[key] for key, count in counts.items()}
    return {key: count for key, count in visible.items() if count > 0}


#: How many posts readers see with a tag (``tag_id``, ``key``) at ``now``: its
#: count less its scheduled posts. Built once: a tag's page asks on every view.
_VISIBLE_TAG_COUNT = select(
    PostCount.__table__.c.count
    - select(func.count())
    .select_from(post_tags)
    .join(Post.__table__, post_columns.id == post_tags.c.post_id)
    .where(post_tags.c.tag_id == bindparam("tag_id"), post_columns.kind == POST)
    .where(*scheduled_criteria(bindparam("now")))
    .scalar_subquery()
).where(
    PostCount.__table__.c.scope == TAG, PostCount.__table__.c.key == bindparam("key")
)


def visible_tag_count(tag_id: int, now: datetime) -> int:
    """Return how many posts readers see now with the tag, in one query."""
    rows = read_rows(
        _VISIBLE_TAG_COUNT, {"tag_id": tag_id, "key": str(tag_id), "now": now}
    )
    stored = rows[0][0] if rows else 0
    return max(stored or 0, 0)

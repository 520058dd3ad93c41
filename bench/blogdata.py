"""Fill a database with a realistic blog: posts with Markdown, tags and dates."""

from __future__ import annotations

import random
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from homepage import create_app
from homepage.core import markdown
from homepage.core.authors import create_author
from homepage.core.models import POST, PUBLISHED, Post, Tag, post_tags
from homepage.core.schema import init_db
from homepage.db import get_engine, session

PASSWORD = "benchmark password"
SECRET_KEY = "benchmark-key-" + "k" * 50
TAGS = 30
TAGS_PER_POST = 3

_WORDS = (
    "apache sqlite thread process request page cache index archive feed tag "
    "reader author draft publish server python flask template query session "
    "commit write lock journal wal checkpoint latency throughput"
).split()


def _paragraph(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _body(rng: random.Random) -> str:
    """Return about 3 KB of Markdown: paragraphs, a heading, a list, some code."""
    parts = [_paragraph(rng, 60), "## Details", _paragraph(rng, 80)]
    parts.append("\n".join(f"- {_paragraph(rng, 8)}" for _ in range(4)))
    parts.append("```python\nfor post in posts:\n    print(post.title)\n```")
    parts.append(_paragraph(rng, 70))
    return "\n\n".join(parts)


#: Where filled databases are kept between runs, by size, seed and spread.
CACHE = Path(tempfile.gettempdir()) / "homepage-bench-data"


def fill(
    database: Path, posts: int = 1000, seed: int = 3, spread: str = "hours"
) -> list[str]:
    """Create ``database`` with ``posts`` published posts; return their slugs.

    ``spread="hours"`` dates them 20 hours apart from 2023 (beyond about 1,700
    posts most lie in the future, scheduled); ``spread="past"`` dates them 10
    minutes apart, ending a day ago, so every one is visible. A filled database
    is kept under CACHE and copied, since 100,000 posts take a while to make.
    """
    slugs = [f"post-number-{number}" for number in range(posts)]
    cached = CACHE / f"{posts}-{seed}-{spread}.db"
    if not cached.exists():
        CACHE.mkdir(exist_ok=True)
        partial = cached.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        _make(partial, posts, seed, spread)
        partial.rename(cached)
    shutil.copyfile(cached, database)
    # The kept file may predate a schema change: upgrade the copy, as
    # `flask init-db` upgrades a live blog.
    app = create_app(
        {"SECRET_KEY": SECRET_KEY, "DATABASE_URL": f"sqlite:///{database}"}
    )
    with app.app_context():
        init_db()
    get_engine(app).dispose()
    return slugs


def _dates(posts: int, spread: str) -> list[datetime]:
    if spread == "past":
        end = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        return [end - timedelta(minutes=10 * (posts - 1 - n)) for n in range(posts)]
    start = datetime(2023, 1, 1, tzinfo=UTC)
    return [start + timedelta(hours=20 * number) for number in range(posts)]


def fill_url(url: str, posts: int = 1000, seed: int = 3, spread: str = "hours"):
    """Fill the empty database at ``url`` as :func:`fill` does; return the slugs.

    The same seed makes the same posts as on SQLite, so both serve one blog.
    """
    _make(url, posts, seed, spread)
    # Planner statistics, as autovacuum gathers them a minute after a bulk
    # load; measured before, the pages would wait on plans made blind.
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()
    return [f"post-number-{number}" for number in range(posts)]


def _make(database: Path | str, posts: int, seed: int, spread: str) -> None:
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    app = create_app({"SECRET_KEY": SECRET_KEY, "DATABASE_URL": url})
    rng = random.Random(seed)
    # Rendering every body would take most of the fill time; a handful of
    # distinct bodies, rendered once each, look the same to the pages.
    bodies = [(body, markdown.render(body)) for body in (_body(rng) for _ in range(8))]
    dates = _dates(posts, spread)
    with app.app_context():
        init_db()
        author = create_author("alice", PASSWORD)
        tag_ids = [
            session.execute(
                insert(Tag).values(name=f"topic-{number}")
            ).inserted_primary_key[0]
            for number in range(TAGS)
        ]
        # Core inserts in batches: the ORM would hold 100,000 objects.
        for first in range(0, posts, 5000):
            rows, links = [], []
            for number in range(first, min(first + 5000, posts)):
                body, html = bodies[number % len(bodies)]
                rows.append(
                    {
                        "id": number + 1,
                        "title": f"Post number {number}: {_paragraph(rng, 5)}",
                        "slug": f"post-number-{number}",
                        "body": body,
                        "body_html": html,
                        "summary": "",
                        "summary_html": markdown.first_paragraph(html),
                        "status": PUBLISHED,
                        "kind": POST,
                        "author_id": author.id,
                        "published_at": dates[number],
                        "created_at": dates[number],
                        "updated_at": dates[number],
                        "version": 1,
                    }
                )
                links += [
                    {"post_id": number + 1, "tag_id": tag_id}
                    for tag_id in rng.sample(tag_ids, TAGS_PER_POST)
                ]
            session.execute(insert(Post), rows)
            session.execute(insert(post_tags), links)
        if session.get_bind().dialect.name == "postgresql":
            # The ids were given: the sequence must continue after them, or
            # the mixed run's first saves would take ids already used.
            session.execute(
                text("SELECT setval(pg_get_serial_sequence('posts', 'id'), :last)"),
                {"last": posts},
            )
        session.commit()
        # Bulk inserts skip the flush hooks: index the posts and derive what
        # the schema keeps beside them, as an upgrade would.
        init_db()
    # Closing the last connection removes -wal and -shm, so the copy is whole
    # and the server's user creates its own.
    get_engine(app).dispose()

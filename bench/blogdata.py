"""Fill a database with a realistic blog: posts with Markdown, tags and dates."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from homepage import create_app
from homepage.core import markdown
from homepage.core.authors import create_author
from homepage.core.models import PUBLISHED, Post, Tag
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


def fill(database: Path, posts: int = 1000, seed: int = 3) -> list[str]:
    """Create ``database`` with ``posts`` published posts; return their slugs."""
    app = create_app(
        {"SECRET_KEY": SECRET_KEY, "DATABASE_URL": f"sqlite:///{database}"}
    )
    rng = random.Random(seed)
    # Rendering 1,000 bodies would take most of the fill time; a handful of
    # distinct bodies, rendered once each, look the same to the pages.
    bodies = [(body, markdown.render(body)) for body in (_body(rng) for _ in range(8))]
    start = datetime(2023, 1, 1, tzinfo=UTC)
    slugs = []
    with app.app_context():
        init_db()
        author = create_author("alice", PASSWORD)
        tags = [Tag(name=f"topic-{number}") for number in range(TAGS)]
        for number in range(posts):
            body, html = bodies[number % len(bodies)]
            slug = f"post-number-{number}"
            session.add(
                Post(
                    title=f"Post number {number}: {_paragraph(rng, 5)}",
                    slug=slug,
                    body=body,
                    body_html=html,
                    summary="",
                    summary_html=markdown.first_paragraph(html),
                    status=PUBLISHED,
                    author=author,
                    tags=rng.sample(tags, TAGS_PER_POST),
                    published_at=start + timedelta(hours=20 * number),
                )
            )
            slugs.append(slug)
        session.commit()
    # Closing the last connection removes -wal and -shm, so the server's user
    # creates its own rather than finding files it cannot write.
    get_engine(app).dispose()
    return slugs

"""PostgreSQL's search index: a tsvector of each post with a GIN index.

SQLite keeps its FTS5 table from the baseline; this revision changes nothing
there. On PostgreSQL it makes the text search configuration the site
searches with and the post_search table (core/search.py).

Revision ID: 0002
Revises: 0001
Created: 2026-11-26 12:55:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: The parser's kinds of words, plain and hyphenated (the others, such as
#: numbers, addresses and URLs, keep english's own "simple" dictionary).
WORDS = "asciiword, asciihword, hword_asciipart, word, hword, hword_part"


def upgrade() -> None:
    """Make the search configuration, the index table and its GIN index."""
    if op.get_bind().dialect.name != "postgresql":
        return
    # unaccent is a trusted extension (PostgreSQL 13+): a database's owner
    # may create it without being a superuser.
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    # English stems without stop words, as SQLite's Porter stemmer (which
    # drops none); unaccent first, so that "cafe" finds "café".
    op.execute(
        "CREATE TEXT SEARCH DICTIONARY homepage_stem "
        "(TEMPLATE = snowball, Language = english)"
    )
    op.execute("CREATE TEXT SEARCH CONFIGURATION homepage_search (COPY = english)")
    op.execute(
        f"ALTER TEXT SEARCH CONFIGURATION homepage_search "
        f"ALTER MAPPING FOR {WORDS} WITH unaccent, homepage_stem"
    )
    op.execute(
        "CREATE TABLE post_search ("
        " rowid integer PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE,"
        " title text NOT NULL, summary text NOT NULL,"
        " body text NOT NULL, tags text NOT NULL,"
        " document tsvector GENERATED ALWAYS AS ("
        "  setweight(to_tsvector('homepage_search', title), 'A')"
        "  || setweight(to_tsvector('homepage_search', tags), 'B')"
        "  || setweight(to_tsvector('homepage_search', summary), 'C')"
        "  || setweight(to_tsvector('homepage_search', body), 'D')"
        " ) STORED)"
    )
    op.execute(
        "CREATE INDEX ix_post_search_document ON post_search USING gin (document)"
    )


def downgrade() -> None:
    """Drop the index table and the search configuration."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE IF EXISTS post_search")
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS homepage_search")
    op.execute("DROP TEXT SEARCH DICTIONARY IF EXISTS homepage_stem")
    # unaccent stays: the database may have had it before, or use it elsewhere.

"""The core: the database's content and the rules about it, without HTTP.

Models and schema, the rules about posts (who sees what, how a post is saved),
revisions, images, Markdown, the search index, the content version and the
authors. Nothing here imports a request object or a blueprint, so the reader
and admin sides and the command-line tools all stand on the same rules.
"""

from __future__ import annotations

from ..db import session
from . import content, counts, search


def init_app() -> None:
    """Keep the content version, counts and search index in step with flushes."""
    content.watch(session)
    counts.watch(session)
    search.watch(session)

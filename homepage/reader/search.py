"""The ``/search`` page: the visible posts and pages that match a reader's words."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from math import ceil

from flask import Blueprint, abort, current_app, render_template, request
from flask.blueprints import BlueprintSetupState

from ..core import search
from . import caching
from .blog import page_number
from .queries import visible

bp = Blueprint("search", __name__)
caching.cache_reader_pages(bp)

#: Where each app keeps the semaphore that counts its searches under way.
EXTENSION_KEY = "homepage.search"
#: Seconds a reader is asked to wait when every search slot is taken.
RETRY_AFTER = 5


@dataclass
class Results:
    """One page of a search's results, out of at most ``SEARCH_MAX_RESULTS``."""

    items: list[search.Hit]
    number: int
    #: How many results are ranked and can be paged through.
    total: int
    per_page: int
    #: Whether more posts match than were ranked.
    more: bool

    @property
    def last_number(self) -> int:
        """Return the number of the last page of results."""
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.last_number


@bp.record_once
def _make_slots(state: BlueprintSetupState) -> None:
    """Give the app its count of searches that may run at once."""
    # Per process: mod_wsgi's threads share it, its processes each have one.
    state.app.extensions[EXTENSION_KEY] = threading.BoundedSemaphore(
        state.app.config["SEARCH_CONCURRENCY"]
    )


def run_search(match: str, number: int) -> Results:
    """Return one page of visible posts and pages matching ``match``, best first.

    :raise 404: when the page number is out of range.
    """
    limit = current_app.config["SEARCH_MAX_RESULTS"]
    per_page = current_app.config["POSTS_PER_PAGE"]
    ranked, more = search.ranked(match, *visible(None), limit=limit)
    results = Results([], number, len(ranked), per_page, more)
    if number < 1 or number > results.last_number:
        abort(404)
    start = (number - 1) * per_page
    results.items = search.hits(match, ranked[start : start + per_page])
    return results


def too_busy(query: str):
    """Answer 503 with a Retry-After: every search slot of this process is taken."""
    page = render_template("reader/search.html", q=query, listing=None, busy=True)
    return page, 503, {"Retry-After": str(RETRY_AFTER)}


@bp.get("/search")
def results():
    """Show the visible posts and pages that match the reader's words."""
    query = request.args.get("q", "")
    match = search.fts_query(query)
    if not match:
        return render_template("reader/search.html", q=query, listing=None)
    # A search costs far more than any other page and is never the same
    # twice; without a bound, a few at once could hold every thread of the
    # process while readers of other pages wait.
    slots = current_app.extensions[EXTENSION_KEY]
    if not slots.acquire(blocking=False):
        return too_busy(query)
    try:
        listing = run_search(match, page_number())
    finally:
        slots.release()
    return render_template("reader/search.html", q=query, listing=listing)

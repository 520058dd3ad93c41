"""The ``/search`` page: the visible posts and pages that match a reader's words."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from ..core import search
from . import caching
from .blog import page_number
from .queries import Listing, visible

bp = Blueprint("search", __name__)
caching.cache_reader_pages(bp)


def run_search(match: str, number: int) -> Listing:
    """Return one page of visible posts and pages matching ``match``, best first.

    :raise 404: when the page number is out of range.
    """
    criteria = visible(None)
    per_page = current_app.config["POSTS_PER_PAGE"]
    listing = Listing([], number, search.count(match, *criteria), per_page)
    if number < 1 or number > listing.last_number:
        abort(404)
    listing.items = search.hits(
        match, *criteria, limit=per_page, offset=(number - 1) * per_page
    )
    return listing


@bp.get("/search")
def results():
    """Show the visible posts and pages that match the reader's words."""
    query = request.args.get("q", "")
    match = search.fts_query(query)
    listing = run_search(match, page_number()) if match else None
    return render_template("reader/search.html", q=query, listing=listing)

"""A draft or scheduled post read through a secret share link.

The page is rendered like the post's own, for whoever holds the link only:
never stored in the page cache, never indexed, and nowhere in the feeds,
the sitemap or the search, which list only what readers see.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template

from ..core import shares
from .templating import post_url

bp = Blueprint("shared", __name__)

#: The headers of a shared page: no index, no cache, no address in referrers.
SHARED_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "no-store",
    # The secret address must not travel to the sites the post links to.
    "Referrer-Policy": "no-referrer",
}


@bp.get("/shared/<token>")
def show(token: str):
    """Show the post a share link opens, as readers will see it.

    :raise 404: when the link is unknown or revoked, or its post is in the
        trash.
    """
    post = shares.shared_post(token)
    if post is None:
        abort(404, description="This share link does not exist or was revoked.")
    if shares.is_out(post):
        # Published meanwhile: its own address is the one to read and share.
        return redirect(post_url(post))
    page = render_template("reader/shared.html", post=post)
    return page, 200, SHARED_HEADERS

"""What the post form does besides saving: autosave, live preview, share links.

The endpoints answer static/editor/*.js with JSON; the ones a person also
reaches without JavaScript (discarding an autosave, share links) answer with
a redirect to the form. Each checks the CSRF token (the global protection)
and whether the author may work on the post (admin/access.py).
"""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    jsonify,
    redirect,
    request,
    url_for,
)

from ..core import autosave, markdown, posts, preflight, shares
from ..core.models import Post
from ..db import write_transaction
from .access import find_post, get_post, require_may_change
from .forms import DraftCopyForm
from .posts import current_author_id

bp = Blueprint("editor", __name__)

#: The level of the highest heading of a post's body in its preview, as in
#: the form's own Preview (admin/posts.py).
PREVIEW_TOP = 4


def _refused(message: str, status: int = 400):
    """Answer a script's request with a message it can show."""
    return jsonify(error=message), status


def _checked_post(post_id: int | None) -> Post | None:
    """Return the post of ``post_id`` the author may work on, or None for a new one."""
    return get_post(post_id) if post_id is not None else None


@bp.post("/posts/new/autosave")
@bp.post("/posts/<int:post_id>/autosave")
def keep(post_id: int | None = None):
    """Keep the form's text as the author's autosave; never touch the post."""
    _checked_post(post_id)
    values = DraftCopyForm().kept_fields()
    if problem := autosave.fields_problem(values):
        return _refused(problem, 413 if "too long" in problem else 400)
    author_id = current_author_id()
    with write_transaction():
        if post_id is not None:
            # Again under the lock: the post may be gone, or the role changed.
            post = find_post(post_id)
            if post is None:
                return _refused("The post was deleted meanwhile.", 409)
            require_may_change(post)
        kept = autosave.keep_autosave(author_id, post_id, values)
        saved_at = kept.saved_at
    return jsonify(saved_at=saved_at.isoformat())


@bp.post("/posts/new/autosave/discard")
@bp.post("/posts/<int:post_id>/autosave/discard")
def discard(post_id: int | None = None):
    """Forget the author's autosave of a post."""
    _checked_post(post_id)
    author_id = current_author_id()
    with write_transaction():
        autosave.discard_autosave(author_id, post_id)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(discarded=True)
    flash("Discarded the autosaved copy.")
    return redirect(_form_url(post_id))


def _form_url(post_id: int | None) -> str:
    """Return the address of the post form."""
    if post_id is None:
        return url_for("admin.posts.create")
    return url_for("admin.posts.edit", post_id=post_id)


@bp.post("/posts/new/preview")
@bp.post("/posts/<int:post_id>/preview")
def preview(post_id: int | None = None):
    """Render the form's body as readers would see it, and its preflight list."""
    _checked_post(post_id)
    form = DraftCopyForm()
    body, summary = form.body.data or "", form.summary.data or ""
    # The form's own limits, before anything reads the Markdown.
    if problem := posts.body_problem(body) if body.strip() else None:
        return _refused(problem, 413 if "too long" in problem else 400)
    if problem := posts.summary_problem(summary):
        return _refused(problem)
    body_html, _ = posts.render_text(body, "")
    return jsonify(
        html=markdown.shift_headings(body_html, PREVIEW_TOP),
        findings=[
            {"severity": finding.severity, "message": finding.message}
            for finding in preflight.check_for_site(body_html, summary)
        ],
    )


@bp.post("/posts/<int:post_id>/shares")
def share(post_id: int):
    """Make a secret link to read the post before it is out."""
    author_id = current_author_id()
    with write_transaction():
        post = get_post(post_id)
        token = shares.create_link(post, author_id)
    if token is None:
        flash(
            f"This post has {shares.MAX_LINKS_PER_POST} share links already; "
            "revoke one first."
        )
    else:
        url = url_for("shared.show", token=token, _external=True)
        flash(
            f"Anyone with this link can read the post until you revoke it: {url} "
            "(copy it now: it is shown only once)."
        )
    return redirect(url_for("admin.posts.edit", post_id=post_id) + "#share")


@bp.post("/posts/<int:post_id>/shares/<int:link_id>/revoke")
def revoke(post_id: int, link_id: int):
    """Revoke a share link: its address shows nothing from now on."""
    with write_transaction():
        get_post(post_id)
        revoked = shares.revoke_link(post_id, link_id)
    flash("Revoked the share link." if revoked else "That link was revoked already.")
    return redirect(url_for("admin.posts.edit", post_id=post_id) + "#share")

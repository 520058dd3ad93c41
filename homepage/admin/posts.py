"""The author's pages: the list of posts and the post form."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from ..core import autosave, history, markdown, posts, preflight, shares
from ..core.models import PAGE, Post, utcnow, visible_at
from ..core.zone import format_moment
from ..db import session, write_transaction
from .access import find_post, get_post, require_may_change
from .auth import current_author
from .forms import PostForm, PostImageForm

bp = Blueprint("posts", __name__)

#: The level of the highest heading of a post's body in its preview.
PREVIEW_TOP = 4


@bp.get("/")
def index():
    """List the posts the author may work on, newest first, with their status."""
    query = select(Post).where(Post.deleted_at.is_(None))
    # By the date readers see (or will see); a draft without one by its last
    # change, so what the author just worked on is near the top.
    dated = func.coalesce(Post.published_at, Post.updated_at)
    return render_template(
        "admin/index.html",
        posts=_listed(query.order_by(dated.desc(), Post.id.desc())),
        author=current_author(),
        in_trash=len(_listed(select(Post).where(Post.deleted_at.is_not(None)))),
    )


def _listed(query: Select) -> Sequence[Post]:
    """Return the posts of ``query`` that the logged-in author may work on."""
    author = current_author()
    assert author is not None  # the admin area's login gate let the request in
    if not author.sees_all:
        query = query.where(Post.author_id == author.id)
    return session.scalars(query.options(joinedload(Post.author))).all()


@bp.route("/posts/new", methods=["GET", "POST"])
def create():
    """Write a new post."""
    if request.method == "GET":
        return _open_form(None)
    return _save(PostForm(), None)


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
def edit(post_id: int):
    """Change an existing post."""
    if request.method == "GET":
        return _open_form(get_post(post_id))
    found = find_post(post_id)
    if found is None:
        return render_deleted(PostForm())
    post = require_may_change(found)
    return _save(PostForm(post), post)


PENDING_BACK = (
    "Your login had expired when you sent this form, so nothing was saved. "
    "Your text is back in the form below: check it, then save."
)
PENDING_GONE = (
    "The form kept when your login expired is no longer there: it was opened "
    "already, or it is more than 12 hours old."
)


def _open_form(post: Post | None):
    """Show the post form: the post as saved, or text kept for the author.

    ``?pending=TOKEN`` brings back a form sent after the login expired;
    ``?restore=autosave`` the author's autosaved copy. Either fills the form
    only; nothing is saved until the author saves.
    """
    author_id = current_author_id()
    post_id = post.id if post is not None else None
    form = PostForm.for_post(post) if post is not None else PostForm()
    notice = None
    kept: dict[str, str] | None = None
    if token := request.args.get("pending"):
        with write_transaction():
            kept = autosave.take_pending(token, post_id)
        notice = PENDING_BACK if kept is not None else PENDING_GONE
    elif request.args.get("restore") == "autosave":
        copy = autosave.find_autosave(author_id, post_id)
        if copy is not None:
            kept = autosave.autosave_fields(copy)
            notice = (
                "The autosaved copy is back in the form below; it is not saved "
                "yet: check it, then save."
            )
    if kept is not None:
        version = kept.pop("version", "") or (
            str(post.version) if post is not None else ""
        )
        kept.pop("status", None)
        form = PostForm(post, **kept, version=version)
    offer = None
    if kept is None:
        copy = autosave.find_autosave(author_id, post_id)
        if autosave.offered(copy, post):
            offer = copy
    return render_template(
        "admin/edit.html",
        form=form,
        post=post,
        notice=notice,
        offer=offer,
        findings=preflight.check_post(post) if post is not None else None,
        share_links=shares.links_of(post.id) if post is not None else None,
    )


def current_author_id() -> int:
    """Return the logged-in author's id (the admin area's gate let them in)."""
    author = current_author()
    assert author is not None
    return author.id


def render_deleted(form: PostForm):
    """Show the form of a post deleted meanwhile, with its text, to create anew."""
    # 409 like a conflicting save: the request was fine, the post it was
    # about is gone. With ``post=None`` the form now creates a post.
    return render_template("admin/edit.html", form=form, post=None, deleted=True), 409


IMAGE_NOT_SENT = (
    "The post was not saved: the image “{name}” is chosen but was not uploaded. "
    "Press “Upload and insert into the body” to add it to the post, or clear "
    "the file field, then save again."
)


class SaveRefused(Exception):
    """A save that the database's current state refuses; the form shows why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class PostDeleted(Exception):
    """The post being saved was deleted since the form was submitted."""


class EditConflict(Exception):
    """The post was saved by someone else since the form was opened."""


def _save(form: PostForm, post: Post | None):
    """Validate the form, then preview it, re-show it with errors, or save it."""
    # Taken now: once the write transaction starts, a deleted post's
    # attributes (its id too) can no longer be loaded.
    post_id = post.id if post is not None else None
    was_visible = post is not None and visible_at(
        post.status, post.published_at, utcnow(), post.deleted_at
    )
    was_published = post is not None and post.is_published
    # Validation renders the Markdown: slow work, done before the write lock.
    valid = form.validate()
    conflict = None
    # Only the form of a saved post carries a version.
    if post is not None and form.version.errors:
        # Without the version it was opened at, the form cannot be checked
        # against later saves: show the current text, and count the form as
        # opened at it from now on.
        conflict = history.changes_since(post, None)
        form.reopen_at(post.version)
    if form.action.data == "preview":
        return render_template(
            "admin/edit.html",
            form=form,
            post=post,
            # Under the preview's own headings: the page's h1, its h2, and
            # the post's title as an h3.
            preview=(
                markdown.shift_headings(form.fields.body_html, PREVIEW_TOP)
                if form.fields.body_html is not None
                else None
            ),
            conflict=conflict,
            findings=(
                preflight.check_for_site(
                    form.fields.body_html,
                    form.summary.data,
                    form.share_image.data or "",
                )
                if form.fields.body_html is not None
                else None
            ),
        ), (200 if valid else 400)
    if not valid:
        return render_template(
            "admin/edit.html", form=form, post=post, conflict=conflict
        ), 400
    if chosen := form.chosen_image():
        # Save sends no file: the browser sent only its name. Saving anyway
        # would drop the image without a word, so nothing is saved and the
        # author is told how to add it; the text stays in the form.
        image_form = PostImageForm()
        image_form.refuse("image", IMAGE_NOT_SENT.format(name=chosen))
        return render_template(
            "admin/edit.html",
            form=form,
            post=post,
            conflict=conflict,
            image_form=image_form,
        ), 400
    try:
        with write_transaction():
            post = _write(form, post_id)
    except SaveRefused as refused:
        form.refuse(refused.field, refused.message)
        return render_template("admin/edit.html", form=form, post=post), 400
    except PostDeleted:
        return render_deleted(form)
    except EditConflict:
        assert post_id is not None  # only a saved post can conflict
        return _render_conflict(form, post_id)
    flash(saved_message(post, was_published, was_visible))
    return redirect(url_for("admin.posts.edit", post_id=post.id))


def saved_message(post: Post, was_published: bool, was_visible: bool) -> str:
    """Say what a save did to ``post``: a draft, published, scheduled, updated."""
    if not post.is_published:
        if was_published:
            return f"Unpublished “{post.title}”: it is a draft again."
        return "Draft saved."
    if post.is_scheduled:
        assert post.published_at is not None  # scheduled means dated
        return f"Scheduled “{post.title}” for {format_moment(post.published_at)}."
    done = "Updated" if was_visible else "Published"
    endpoint = "blog.page" if post.kind == PAGE else "blog.post"
    return Markup('{} “{}”. <a href="{}">View post</a>').format(
        done, post.title, url_for(endpoint, slug=post.slug)
    )


def _render_conflict(form: PostForm, post_id: int):
    """Keep the author's text and show what others changed since they opened it."""
    # Read after the refused save, so the text shown and the version the form
    # now carries belong together; the author's next save goes through unless
    # someone saves again meanwhile.
    post = find_post(post_id)
    if post is None:
        return render_deleted(form)
    conflict = history.changes_since(post, form.opened_at)
    form.reopen_at(post.version)
    return render_template(
        "admin/edit.html", form=form, post=post, conflict=conflict
    ), 409


def _write(form: PostForm, post_id: int | None) -> Post:
    """Store the validated form as post ``post_id`` (or a new post), under the lock.

    :raise PostDeleted: when the post was deleted meanwhile.
    :raise EditConflict: when the post was saved after the form was opened.
    """
    post = None
    if post_id is not None:
        post = find_post(post_id)
        if post is None:
            raise PostDeleted
        # Again under the lock: the author's role may have changed meanwhile.
        require_may_change(post)
        if post.version != form.opened_at:
            raise EditConflict
    # Checked again under the lock: another save may have taken the slug
    # since the form was validated.
    fields = form.fields
    if fields.slug and posts.slug_taken(fields.slug, post):
        raise SaveRefused("slug", posts.SLUG_TAKEN)
    saved = posts.save(post or Post(author=current_author()), fields, current_author())
    # What the author saved supersedes their autosaved copy of it (of a new
    # post: the copy of "new").
    autosave.discard_autosave(current_author_id(), post_id)
    return saved


@bp.get("/posts/<int:post_id>/delete")
def confirm_delete(post_id: int):
    """Ask whether to move a post to the trash."""
    return render_template("admin/delete.html", post=get_post(post_id))


@bp.post("/posts/<int:post_id>/delete")
def delete(post_id: int):
    """Move a post to the trash, from where it can be restored."""
    with write_transaction():
        post = get_post(post_id)
        post.deleted_at = utcnow()
        title = post.title
    # The category carries the post's number: the message offers to undo.
    flash(f"Deleted “{title}”.", f"restore:{post_id}")
    return redirect(url_for("admin.posts.index"))


@bp.post("/posts/<int:post_id>/restore")
def restore(post_id: int):
    """Take a post back out of the trash, as it was."""
    with write_transaction():
        post = get_post(post_id, trashed=True)
        post.deleted_at = None
        title = post.title
    flash(f"Restored “{title}”.")
    return redirect(url_for("admin.posts.edit", post_id=post_id))


@bp.get("/trash")
def trash():
    """List the posts in the trash the author may work on, last deleted first."""
    query = select(Post).where(Post.deleted_at.is_not(None))
    return render_template(
        "admin/trash.html",
        posts=_listed(query.order_by(Post.deleted_at.desc(), Post.id.desc())),
    )


@bp.post("/posts/<int:post_id>/purge")
def purge(post_id: int):
    """Delete a post in the trash for good, with its versions and old addresses."""
    with write_transaction():
        post = get_post(post_id, trashed=True)
        title = post.title
        session.delete(post)
        session.flush()
        posts.delete_orphan_tags()
    flash(f"Deleted “{title}” for good.")
    return redirect(url_for("admin.posts.trash"))

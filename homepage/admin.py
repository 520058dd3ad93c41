"""The author's pages: the list of posts and the post form."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from . import markdown, posts, revisions
from .auth import current_author, login_required
from .db import session
from .models import Post

bp = Blueprint("admin", __name__, url_prefix="/admin")


def get_post(post_id: int) -> Post:
    """Return the post with ``post_id``.

    :raise 404: when there is none.
    """
    post = session.get(Post, post_id, options=[selectinload(Post.tags)])
    if post is None:
        abort(404)
    return post


@bp.get("/")
@login_required
def index():
    """List every post, newest first, with its status."""
    all_posts = session.scalars(
        select(Post)
        .options(joinedload(Post.author))
        .order_by(Post.created_at.desc(), Post.id.desc())
    ).all()
    return render_template("admin/index.html", posts=all_posts)


@bp.route("/posts/new", methods=["GET", "POST"])
@login_required
def create():
    """Write a new post."""
    if request.method == "GET":
        return render_template("admin/edit.html", form=posts.PostForm(), post=None)
    return _save(posts.PostForm.from_request(request.form), None)


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit(post_id: int):
    """Change an existing post."""
    post = get_post(post_id)
    if request.method == "GET":
        form = posts.PostForm.from_post(post)
        return render_template("admin/edit.html", form=form, post=post)
    return _save(posts.PostForm.from_request(request.form), post)


def _save(form: posts.PostForm, post: Post | None):
    """Validate the form, then preview it, re-show it with errors, or save it."""
    valid = form.validate(post)
    if request.form.get("action") == "preview":
        preview = markdown.render(form.body) if "body" not in form.errors else None
        return render_template(
            "admin/edit.html", form=form, post=post, preview=preview
        ), (200 if valid else 400)
    if not valid:
        return render_template("admin/edit.html", form=form, post=post), 400
    if post is None:
        post = Post(author=current_author())
        session.add(post)
    else:
        revisions.keep(post, form)
    posts.apply_form(post, form)
    session.flush()
    posts.delete_orphan_tags()
    session.commit()
    flash(f"Saved “{post.title}”.")
    return redirect(url_for("admin.edit", post_id=post.id))


@bp.post("/posts/<int:post_id>/delete")
@login_required
def delete(post_id: int):
    """Delete a post."""
    post = get_post(post_id)
    title = post.title
    session.delete(post)
    session.flush()
    posts.delete_orphan_tags()
    session.commit()
    flash(f"Deleted “{title}”.")
    return redirect(url_for("admin.index"))

"""The admin forms: Flask-WTF classes whose validators hold each form's rules.

The post form's validators ask the rules in :mod:`homepage.core.posts`, which
the importer and revision restore use as well, so every way into the site
refuses a post alike, with the same words. The global ``CSRFProtect`` checks
every POST's token before a view runs; each form checks it again (a no-op
once the global check passed), so a view that forgot the protection still
would not accept a forged form.

Templates write each field's markup by hand, with the ``name`` the browsers
and tests post, and take values and errors from these objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from wtforms import Field, HiddenField, StringField
from wtforms.validators import ValidationError

from ..core import posts
from ..core.models import POST, Post

# A post's version as the edit form sends it: ASCII digits, bounded.
_VERSION_RE = re.compile(r"[1-9][0-9]{0,17}")
VERSION_MISSING = (
    "The form did not say which version of the post it was opened at, so "
    "saving it could undo someone else's changes."
)


def parse_version(text: str | None) -> int | None:
    """Parse the version an edit form sends; return None when it is not one."""
    return int(text) if text and _VERSION_RE.fullmatch(text) else None


class Rule:
    """A validator that asks a rule in core what is wrong with a field's value.

    :param problem: returns the message for a wrong value, or None.
    """

    def __init__(self, problem: Callable[[str], str | None]) -> None:
        self.problem = problem

    def __call__(self, form: FlaskForm, field: Field) -> None:
        message = self.problem(field.data)
        if message is not None:
            raise ValidationError(message)


class Form(FlaskForm):
    """A form bound to the request's form fields, never to a JSON body.

    Flask-WTF would read a JSON body too, and files under any field's name,
    whose values need not be strings: every text field here gets a string,
    and only the fields in ``file_fields`` get files.
    """

    #: The names of the fields that take an uploaded file.
    file_fields: tuple[str, ...] = ()

    def __init__(self, *, blank: bool = False, **data: Any) -> None:
        """Bind the form to the posted fields, or with ``blank`` to none.

        :param data: the fields' values when nothing was posted.
        """
        formdata = None
        if request.method == "POST" and not blank:
            files: MultiDict[str, Any] = MultiDict(
                (name, file)
                for name in self.file_fields
                for file in request.files.getlist(name)
            )
            formdata = (
                CombinedMultiDict((files, request.form)) if files else request.form
            )
        super().__init__(formdata=formdata, **data)

    def refuse(self, name: str, message: str) -> None:
        """Mark field ``name`` wrong after validation (a check under the lock)."""
        self[name].errors = [*self[name].errors, message]


# -- posts -----------------------------------------------------------------------

#: The post fields an author types, as core.posts.PostFields names them.
_TYPED = (
    "title",
    "slug",
    "body",
    "summary",
    "tags",
    "status",
    "kind",
    "published_at",
)
#: The post form's fields that are no part of the post.
_NOT_TYPED = frozenset({"version", "action", "csrf_token"})


class PostForm(Form):
    """A post as the author types it; its rules are the ones in core.posts."""

    title = StringField(default="", validators=[Rule(posts.title_problem)])
    slug = StringField(default="")
    body = StringField(default="", validators=[Rule(posts.body_problem)])
    summary = StringField(default="", validators=[Rule(posts.summary_problem)])
    tags = StringField(default="", validators=[Rule(posts.tags_problem)])
    status = StringField(default="", validators=[Rule(posts.status_problem)])
    kind = StringField(default=POST, validators=[Rule(posts.kind_problem)])
    published_at = StringField(
        default="", validators=[Rule(posts.published_at_problem)]
    )
    #: The version of the post the form was opened at (edit forms only).
    version = HiddenField(default="")
    #: Which button sent the form: "preview" shows it, anything else saves.
    action = HiddenField(default="")

    def __init__(self, post: Post | None = None, **data: Any) -> None:
        super().__init__(**data)
        #: The post this form edits; None for a new one.
        self.post = post
        #: The typed fields as checked and rendered by :meth:`validate`.
        self.fields = self.typed()

    @classmethod
    def for_post(cls, post: Post) -> PostForm:
        """Return the form of a stored post, opened at its current version."""
        fields = posts.PostFields.from_post(post)
        return cls(
            post,
            **{name: getattr(fields, name) for name in _TYPED},
            version=str(post.version),
        )

    def typed(self) -> posts.PostFields:
        """Return what the author typed as a post's fields."""
        return posts.PostFields(**{name: self[name].data for name in _TYPED})

    @property
    def opened_at(self) -> int | None:
        """Return the version the form was opened at, or None if it did not say."""
        return parse_version(self.version.data)

    def reopen_at(self, version: int) -> None:
        """Count the form as opened at ``version`` from now on."""
        self.version.data = str(version)

    def validate_slug(self, field: Field) -> None:
        """Check the slug against the other posts' slugs."""
        if message := posts.slug_problem(field.data, self.post):
            raise ValidationError(message)

    def validate_version(self, field: Field) -> None:
        """Require an edit form to say which version it was opened at."""
        if self.post is not None and self.opened_at is None:
            raise ValidationError(VERSION_MISSING)

    def validate(self, extra_validators: Any = None) -> bool:
        """Check every field by the post rules, then render the Markdown.

        Rendering happens here, before any write, so that it never runs while
        the database's write lock is held.
        """
        self.fields = self.typed()
        self.fields.tidy()
        # The form shows the input as it was checked.
        for name in posts.TIDIED:
            self[name].data = getattr(self.fields, name)
        valid = super().validate(extra_validators)
        posts.prepare(self.fields, self.wrong_fields())
        return valid

    def wrong_fields(self) -> list[str]:
        """Return the names of the fields the author should correct."""
        return [
            field.name
            for field in self
            if field.errors and field.name not in _NOT_TYPED
        ]

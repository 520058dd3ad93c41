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
from urllib.parse import urlsplit

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from wtforms import BooleanField, Field, HiddenField, PasswordField, StringField
from wtforms.validators import (
    AnyOf,
    EqualTo,
    InputRequired,
    Length,
    Optional,
    StopValidation,
    ValidationError,
)

from ..core import autosave, posts
from ..core.authors import MAX_PASSWORD, MIN_PASSWORD, username_problem
from ..core.models import AUTHOR, DRAFT, POST, PUBLISHED, ROLES, Post, utcnow

ROLE_CHOICE = f"Choose {', '.join(ROLES[:-1])} or {ROLES[-1]}."
NO_IMAGE = "Choose an image file to upload."

# A post's version as the edit form sends it: ASCII digits, bounded.
_VERSION_RE = re.compile(r"[1-9][0-9]{0,17}")
VERSION_MISSING = (
    "The form did not say which version of the post it was opened at, so "
    "saving it could undo someone else's changes."
)


def safe_next(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site, else None.

    Only a path like ``/admin/posts/new`` is allowed: no scheme, no host, and no
    ``//`` or backslash that browsers would read as another host.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def parse_version(text: str | None) -> int | None:
    """Parse the version an edit form sends; return None when it is not one."""
    return int(text) if text and _VERSION_RE.fullmatch(text) else None


def strip(value: Any) -> Any:
    """Strip the spaces around a typed value."""
    return value.strip() if isinstance(value, str) else value


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


class StopIfWrong:
    """A validator that skips a field's other checks while ``other`` is wrong.

    The new password's confirmation is only worth comparing once the new
    password itself is right.
    """

    def __init__(self, other: str) -> None:
        self.other = other

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if form[self.other].errors:
            raise StopValidation()


class PlainFileName:
    """A validator that refuses an uploaded file whose name holds a path.

    The name is never used to store the file; a browser sends only a base
    name, so a path here means a crafted request, which is refused outright.
    """

    message = "The file name must be a plain name, not a path."

    def __call__(self, form: FlaskForm, field: Field) -> None:
        name = field.data.filename
        if (
            "/" in name
            or "\\" in name
            or name in {".", ".."}
            or any(ord(char) < 32 or ord(char) == 127 for char in name)
        ):
            raise StopValidation(self.message)


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
    "share_image",
)
#: The post form's fields that are no part of the post.
_NOT_TYPED = frozenset({"version", "action", "cursor", "csrf_token"})
#: The post form's buttons that set the status they save the post with. Any
#: other action ("save", the Update of a published post) keeps the status the
#: form carries.
ACTION_STATUS = {"draft": DRAFT, "publish": PUBLISHED, "unpublish": DRAFT}


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
    share_image = StringField(default="", validators=[Rule(posts.share_image_problem)])
    #: The version of the post the form was opened at (edit forms only).
    version = HiddenField(default="")
    #: Which button sent the form: "preview" shows it, anything else saves,
    #: with the status :data:`ACTION_STATUS` gives it ("draft", "publish",
    #: "unpublish"), or as the form's status field says ("save").
    action = HiddenField(default="")
    #: Where the cursor was in the body, as static/editor.js counts it; empty
    #: without JavaScript. An uploaded image is inserted there.
    cursor = HiddenField(default="")

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

    def chosen_image(self) -> str:
        """Return the name of a file chosen in the form's image field, or ''."""
        # The image field belongs to PostImageForm, which only the upload
        # button sends with its file. The save buttons send the form without
        # multipart encoding, which carries a chosen file's name instead.
        if request.method != "POST":
            return ""
        if file := request.files.get("image"):
            return file.filename or ""
        return request.form.get("image", "").strip()

    @property
    def schedules(self) -> bool:
        """Tell whether the publish date typed lies in the future."""
        moment = posts.parse_datetime(self.published_at.data or "")
        return moment is not None and moment > utcnow()

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
        if self.action.data in ACTION_STATUS:
            self.status.data = ACTION_STATUS[self.action.data]
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


class DraftCopyForm(Form):
    """The post form's text as the editor's script sends it, to keep or preview.

    No rules of a post apply: an autosave keeps unfinished text. Only the
    sizes are bounded, by :func:`homepage.core.autosave.fields_problem`.
    """

    title = StringField(default="")
    slug = StringField(default="")
    body = StringField(default="")
    summary = StringField(default="")
    tags = StringField(default="")
    kind = StringField(default="")
    published_at = StringField(default="")

    def kept_fields(self) -> dict[str, str]:
        """Return the typed fields, by the names core.autosave keeps."""
        return {name: self[name].data or "" for name in autosave.FIELDS}


class StaleDraftForm(DraftCopyForm):
    """A post form sent after its login expired, with its CSRF token dead.

    Its token belonged to the session that expired, so this form does not
    check it; the text is only kept, never saved, and the view asks the
    browser whether the form came from the site's own page instead.
    """

    class Meta:
        csrf = False

    version = StringField(default="", filters=[lambda value: (value or "")[:20]])
    status = StringField(default="", filters=[lambda value: (value or "")[:16]])


class ImageUploadForm(Form):
    """An image to upload, with its description (alternative text)."""

    file_fields = ("image",)
    image = FileField(validators=[FileRequired(NO_IMAGE), PlainFileName()])
    #: Cut to images.MAX_ALT where it is used, rather than refused.
    alt = StringField(default="")
    #: The image only decorates: it rightly has no alt text.
    decorative = BooleanField(default=False)

    #: The status of the page that shows a refused image: 413 when too large.
    http_status = 400

    def refuse_image(self, message: str, http_status: int = 400) -> None:
        """Mark the image wrong after validation (it would not decode, say)."""
        self.refuse("image", message)
        self.http_status = http_status


class ImageDescriptionForm(Form):
    """A library image's description (alt text) and whether it is decorative."""

    #: Cut to images.MAX_ALT where it is used, rather than refused.
    alt = StringField(default="")
    decorative = BooleanField(default=False)


class PostImageForm(ImageUploadForm):
    """The image upload inside the post form, whose fields it shares a page with."""

    alt = StringField(name="image_alt", default="")
    decorative = BooleanField(name="image_decorative", default=False)


class WordPressImportForm(Form):
    """A WordPress export (WXR) to import."""

    file_fields = ("export",)
    export = FileField(
        validators=[
            FileRequired("Choose the export file WordPress wrote (an .xml file)."),
            PlainFileName(),
        ]
    )


# -- logging in and the account ----------------------------------------------------


class LoginForm(Form):
    """A user name and password, and the page to go back to."""

    username = StringField(default="", filters=[strip], validators=[InputRequired()])
    # Bounded before anything hashes it: no password this site sets is longer.
    password = PasswordField(
        default="", validators=[InputRequired(), Length(max=MAX_PASSWORD)]
    )
    #: Kept only if it is a path on this site.
    next = HiddenField(filters=[safe_next])


class PasswordForm(Form):
    """The author's current password and the new one, twice."""

    current_password = PasswordField(default="")
    # Bounded before anything hashes it.
    new_password = PasswordField(
        default="",
        validators=[
            Length(
                min=MIN_PASSWORD, message=f"Use at least {MIN_PASSWORD} characters."
            ),
            Length(max=MAX_PASSWORD, message=f"Use at most {MAX_PASSWORD} characters."),
        ],
    )
    confirm_password = PasswordField(
        default="",
        validators=[
            StopIfWrong("new_password"),
            EqualTo("new_password", message="The two new passwords differ."),
        ],
    )


class AddAuthorForm(Form):
    """A new author: a name, a role, and a password or none (one is made up)."""

    author_username = StringField(default="", filters=[strip])
    author_role = StringField(
        default=AUTHOR, validators=[AnyOf(ROLES, message=ROLE_CHOICE)]
    )
    author_password = PasswordField(
        default="",
        validators=[
            # Empty asks for a generated password; spaces are a password.
            Optional(strip_whitespace=False),
            Length(
                min=MIN_PASSWORD, message=f"Use at least {MIN_PASSWORD} characters."
            ),
            Length(max=MAX_PASSWORD, message=f"Use at most {MAX_PASSWORD} characters."),
        ],
    )

    def validate_author_username(self, field: Field) -> None:
        """Check the name by the rule every author's name follows."""
        if problem := username_problem(field.data):
            raise ValidationError(f"{problem.capitalize()}.")


class RoleForm(Form):
    """Another role for an author."""

    role = StringField(default="", validators=[AnyOf(ROLES, message=ROLE_CHOICE)])

"""The blog's tables: authors, posts and pages, tags, old slugs, the site's state,
and the author's tools and safeguards."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, scoped_session

from ..db import Base

DRAFT = "draft"
PUBLISHED = "published"
STATUSES = (DRAFT, PUBLISHED)

#: A post appears in lists, feeds and the archive; a page (About, Contact)
#: stands alone and is linked from the site's navigation.
POST = "post"
PAGE = "page"
KINDS = (POST, PAGE)

#: An owner does everything, including managing authors and their roles; an
#: editor works on every post and image; an author only on their own.
OWNER = "owner"
EDITOR = "editor"
AUTHOR = "author"
ROLES = (OWNER, EDITOR, AUTHOR)


#: The largest id an Integer column holds in every database the site runs on
#: (PostgreSQL's INTEGER has 32 bits, SQLite's 64): a larger number in a URL
#: names nothing, and must not reach a query, where it would overflow.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def token_hash(token: str) -> str:
    """Return the form of a secret token (login, share link, kept form) stored.

    Only SHA-256 of it: a copy of the database (a backup) holds nothing that
    logs anyone in or opens anything.
    """
    return hashlib.sha256(token.encode()).hexdigest()


class UTCDateTime(TypeDecorator):
    """Store aware datetimes as naive UTC and read them back as aware UTC.

    SQLite has no time zones; without this, values would come back naive and
    could not be compared with ``utcnow()``.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


post_tags = Table(
    "post_tags",
    Base.metadata,
    Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "tag_id",
        ForeignKey("tags.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    #: The post's publish date while readers' lists hold it (a published
    #: post), NULL otherwise: each tag's posts in date order in their own
    #: index, so a tag's page reads its stretch without walking other posts.
    #: Kept by core/counts.py on every flush.
    Column("listed_at", UTCDateTime, nullable=True),
    Index("ix_post_tags_tag_id_listed_at", "tag_id", "listed_at", "post_id"),
)


class Author(UserMixin, Base):
    """Someone who can log in and write."""

    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: One of ROLES. The constant default is what upgrade_schema gives the
    #: authors of an older database; ensure_owner then makes the oldest the
    #: owner, so an upgrade never locks the site's owner out.
    role: Mapped[str] = mapped_column(String(16), default=AUTHOR)

    posts: Mapped[list[Post]] = relationship(
        back_populates="author", foreign_keys="Post.author_id"
    )

    @property
    def is_owner(self) -> bool:
        """Tell whether the author may manage authors and their roles."""
        return self.role == OWNER

    @property
    def sees_all(self) -> bool:
        """Tell whether the author may work on every post and image."""
        # Anything but a known role counts as the least one.
        return self.role in (OWNER, EDITOR)

    def may_change(self, owner_id: int | None) -> bool:
        """Tell whether the author may work on what ``owner_id`` wrote or uploaded."""
        return self.sees_all or (owner_id is not None and owner_id == self.id)

    def __repr__(self) -> str:
        return f"<Author {self.id} {self.username!r} {self.role}>"


class LastOwner(Exception):
    """A change that would leave the site without an owner."""


def set_role(
    db_session: Session | scoped_session[Session], author: Author, role: str
) -> None:
    """Give ``author`` the ``role``; call inside the transaction that commits it.

    :raise ValueError: when ``role`` is not one of ROLES.
    :raise LastOwner: when ``author`` is the only owner and would stop being one.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if author.role == OWNER and role != OWNER:
        owners = db_session.execute(
            select(func.count(Author.id)).where(Author.role == OWNER)
        ).scalar_one()
        if owners <= 1:
            raise LastOwner(
                f"{author.username} is the only owner; make another author owner first."
            )
    author.role = role


def ensure_owner(connection: Connection) -> str | None:
    """Make the oldest author the owner when authors exist but no owner does.

    A database from before roles gains the column with every author an
    "author"; this gives it back an owner. Returns the promoted name, if any.
    """
    if connection.execute(
        select(Author.id).where(Author.role == OWNER).limit(1)
    ).first():
        return None
    oldest = connection.execute(
        select(Author.id, Author.username)
        .order_by(Author.created_at, Author.id)
        .limit(1)
    ).first()
    if oldest is None:
        return None
    connection.execute(update(Author).where(Author.id == oldest.id).values(role=OWNER))
    return oldest.username


class Tag(Base):
    """A topic; names are stored lower-case so "Python" and "python" are one."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)

    posts: Mapped[list[Post]] = relationship(secondary=post_tags, back_populates="tags")

    def __repr__(self) -> str:
        return f"<Tag {self.id} {self.name!r}>"


class Post(Base):
    """A blog post, draft or published, with its Markdown rendered at save time."""

    __tablename__ = "posts"
    __table_args__ = (
        # The reader pages list visible posts (or pages) newest first, and
        # every one of their queries filters on kind, status and publish date.
        # With kind outside the index SQLite read each published row to check
        # it, through the overflow pages of its body: at 1,000 posts the page
        # count and the navigation's page list took 1.4 ms each, half of `/`.
        Index("ix_posts_kind_status_published_at", "kind", "status", "published_at"),
        # The newest due publish date of any kind, which every conditional
        # request reads (content.STATE_SELECT), is one step down this one; with
        # deleted_at in it, the trash is left out without reading any row.
        Index("ix_posts_status_published_at", "status", "published_at", "deleted_at"),
        # Every sitemap file (core/sitemap.py) reads the visible posts of one
        # id range, and the sitemap index asks of each range whether it holds
        # any. Reading status and dates from the posts themselves walks past
        # their bodies (overflow pages), several times slower; with everything
        # a sitemap file needs in the index, a range is one seek and a walk.
        Index(
            "ix_posts_status_id",
            "status",
            "id",
            "published_at",
            "updated_at",
            "kind",
            "slug",
            "deleted_at",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[str] = mapped_column(Text)
    # Rendering Markdown costs far more than a page view may spend, so the
    # sanitized HTML is computed once, on save.
    body_html: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    summary_html: Mapped[str] = mapped_column(Text, default="")
    #: The name of the library image that link previews show (og:image); empty
    #: for the post's first library image.
    share_image: Mapped[str] = mapped_column(
        String(64), default="", server_default=text("''")
    )
    #: The version of core.markdown that rendered the HTML above; 0 for posts
    #: stored before it was recorded, which ``init-db`` renders again.
    renderer: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    kind: Mapped[str] = mapped_column(String(16), default=POST, server_default=POST)
    #: The byline: who wrote the post. Editing never changes it.
    author_id: Mapped[int] = mapped_column(
        ForeignKey("authors.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )
    #: Who saved the current version (an editor, say); None from the CLI and
    #: for posts saved before this was recorded.
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("authors.id", ondelete="SET NULL")
    )
    #: Readers see a published post only once this moment has passed, so a
    #: future date schedules it without any background job.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: 1 when created, one more on every save that changes the post: an edit
    #: form sends the version it was opened at, so that a save over a newer
    #: one is caught instead of undoing it.
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: When the post was moved to the trash; None while it is not there. A
    #: post in the trash is hidden from readers whatever its status, and can
    #: be restored as it was or purged for good.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[Author] = relationship(
        back_populates="posts", foreign_keys=[author_id]
    )
    updated_by: Mapped[Author | None] = relationship(foreign_keys=[updated_by_id])
    tags: Mapped[list[Tag]] = relationship(
        secondary=post_tags, back_populates="posts", order_by=Tag.name
    )

    @property
    def is_published(self) -> bool:
        """Tell whether the post is published (readers see it once it is due)."""
        return self.status == PUBLISHED

    @property
    def is_deleted(self) -> bool:
        """Tell whether the post is in the trash."""
        return self.deleted_at is not None

    @property
    def is_page(self) -> bool:
        """Tell whether this is a standalone page rather than a post."""
        return self.kind == PAGE

    @property
    def is_scheduled(self) -> bool:
        """Tell whether the post is published but its date has not come yet."""
        return (
            self.is_published
            and self.published_at is not None
            and self.published_at > utcnow()
        )

    @property
    def modified_at(self) -> datetime:
        """Return when readers last saw the post change."""
        return modified_at(self.updated_at, self.published_at)

    @property
    def display_date(self) -> datetime:
        """Return the date shown to readers."""
        return self.published_at or self.created_at

    def __repr__(self) -> str:
        return f"<Post {self.id} {self.slug!r} {self.status}>"


# Which posts readers see: the one rule, as a Python predicate and as the SQL
# criteria beside it, so that pages, feeds, search, the sitemap and the HTTP
# validators cannot disagree. A published post whose date has not come is
# scheduled; a draft keeps its date when it is taken back, and is hidden; a
# post in the trash is hidden whatever its status and date.


def visible_at(
    status: str | None,
    published_at: datetime | None,
    now: datetime,
    deleted_at: datetime | None,
) -> bool:
    """Tell whether readers see a post of ``status`` and ``published_at`` at ``now``.

    :param deleted_at: when the post went to the trash, or None.
    """
    return (
        status == PUBLISHED
        and published_at is not None
        and published_at <= now
        and deleted_at is None
    )


#: The posts table's columns. The criteria below are written on them rather
#: than on the mapped class, so that they serve plain Core statements (the
#: readers' lists, which the ORM would make several times slower) as well as
#: ORM queries.
post_columns = Post.__table__.c


def visible_criteria(now) -> tuple:
    """Return :func:`visible_at` as SQL criteria on posts, for a moment or a bind."""
    return (
        post_columns.status == PUBLISHED,
        post_columns.published_at <= now,
        post_columns.deleted_at.is_(None),
    )


def scheduled_criteria(now) -> tuple:
    """Return the SQL criteria of posts that are published but not yet visible."""
    return (
        post_columns.status == PUBLISHED,
        post_columns.published_at > now,
        post_columns.deleted_at.is_(None),
    )


def modified_at(updated_at: datetime, published_at: datetime | None) -> datetime:
    """Return when readers last saw a post change: edited, or (re)published."""
    return max(updated_at, published_at or updated_at)


class SlugRedirect(Base):
    """A slug a post used to have, so that its old address still leads to it."""

    __tablename__ = "slug_redirects"

    slug: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Pointing at the post rather than at its next slug collapses chains of
    # renames into one hop, and deleting the post deletes its old slugs.
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), index=True
    )

    def __repr__(self) -> str:
        return f"<SlugRedirect {self.slug!r} -> {self.post_id}>"


class WordPressPost(Base):
    """A post or page imported from WordPress, and the addresses it had there.

    Importing the same export again finds its posts here and skips them; the
    reader answers the old permalinks (``/?p=123``, ``/2015/01/27/slug/``)
    with a redirect to the post this row names.
    """

    __tablename__ = "wordpress_posts"

    #: The item's ``<guid>``, unique across WordPress sites; ``id:N`` when an
    #: export has none.
    guid: Mapped[str] = mapped_column(String(400), primary_key=True)
    #: ``wp:post_id``, which ``/?p=`` and ``/?page_id=`` name.
    wordpress_id: Mapped[int] = mapped_column(Integer, index=True)
    #: ``wp:post_name`` decoded and lower-cased: the last segment of its
    #: permalinks, which may differ from the slug it has here.
    wordpress_slug: Mapped[str] = mapped_column(String(400), index=True)
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), index=True
    )

    def __repr__(self) -> str:
        return f"<WordPressPost {self.wordpress_id} -> {self.post_id}>"


class WordPressTerm(Base):
    """A WordPress category or tag, and the tag it became here."""

    __tablename__ = "wordpress_terms"

    #: "category" or "post_tag", as WordPress names its taxonomies.
    taxonomy: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The term's slug, which ``/category/x/`` and ``/tag/y/`` name.
    nicename: Mapped[str] = mapped_column(String(400), primary_key=True)
    tag_name: Mapped[str] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"<WordPressTerm {self.taxonomy}:{self.nicename} -> {self.tag_name!r}>"


class WordPressImage(Base):
    """A file of WordPress's uploads folder, and the image it became here.

    Importing again reuses the image instead of storing the file twice.
    """

    __tablename__ = "wordpress_images"

    #: The file's path under ``wp-content/uploads``, such as ``2015/01/a.jpg``.
    source: Mapped[str] = mapped_column(String(400), primary_key=True)
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), index=True
    )

    image: Mapped[Image] = relationship()

    def __repr__(self) -> str:
        return f"<WordPressImage {self.source!r} -> {self.image_id}>"


class PostCount(Base):
    """How many published posts a tag or a month holds, scheduled ones included.

    Kept by core/counts.py on every flush, so that the pages that show counts
    (the tags, the archive) read a few rows instead of counting posts. Posts
    still scheduled are subtracted at read time: there are few of them, and
    their number changes with the clock, without any write.
    """

    __tablename__ = "post_counts"

    #: "tag" (``key`` is the tag's id) or "month" (``key`` is "YYYY-MM").
    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)

    def __repr__(self) -> str:
        return f"<PostCount {self.scope}:{self.key} {self.count}>"


class SiteState(Base):
    """The one row that counts changes to what readers can see.

    Every write that changes a reader page bumps ``version`` in its own
    transaction, so HTTP validators can be computed from this row with one
    cheap query instead of rendering the page.
    """

    __tablename__ = "site_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<SiteState version={self.version} changed_at={self.changed_at}>"


class SiteSecret(Base):
    """A secret every host of the site shares, such as the key that signs cookies.

    Kept in the database rather than in one host's files, so that a login
    made through one host is valid on every other (core.keys).
    """

    __tablename__ = "site_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<SiteSecret {self.name!r}>"


class Revision(Base):
    """An earlier version of a post, kept each time the post is saved."""

    __tablename__ = "revisions"
    __table_args__ = (
        # The backstop behind computing max + 1 inside a write transaction: two
        # saves of one post can never both record the same number.
        UniqueConstraint("post_id", "number", name="uq_revisions_post_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    #: 1 for the first version replaced, then 2, 3 ... per post.
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    #: The tag names as the form shows them, comma-separated.
    tags: Mapped[str] = mapped_column(Text, default="")
    #: The post's address, status, publish date and kind in this version; all
    #: None in revisions kept before they were recorded.
    slug: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str | None] = mapped_column(String(16))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kind: Mapped[str | None] = mapped_column(String(16))
    #: When this version was written (the post's ``updated_at`` back then).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Who had saved this version (the post's ``updated_by`` back then).
    saved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("authors.id", ondelete="SET NULL")
    )
    #: Who was logged in when this version was replaced; None from the CLI.
    replaced_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("authors.id", ondelete="SET NULL")
    )

    #: The post's version that had this text; 0 when kept before posts had
    #: versions. The text at version v is that of the earliest revision with a
    #: version of v or more, or the post's own when there is none.
    version: Mapped[int] = mapped_column(Integer, default=0)

    saved_by: Mapped[Author | None] = relationship(foreign_keys=[saved_by_id])
    replaced_by: Mapped[Author | None] = relationship(foreign_keys=[replaced_by_id])

    def __repr__(self) -> str:
        return f"<Revision {self.post_id}#{self.number}>"


class Image(Base):
    """An uploaded image, stored under the instance folder as ``name``."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Random hex plus the extension of the decoded format; never the user's name.
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: The uploaded file's base name, only ever shown as text.
    original_name: Mapped[str] = mapped_column(String(200), default="")
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("authors.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Whether the file was turned upright and stripped of its metadata (GPS
    #: position, camera, comments). Images stored before that was done read
    #: False, and ``init-db`` strips them once.
    metadata_stripped: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The description typed at upload, the alt text put in the Markdown.
    alt: Mapped[str] = mapped_column(String(200), default="", server_default=text("''"))
    #: Whether the image only decorates (a divider, a flourish), so that it
    #: rightly has no alt text and the editor does not ask for one.
    decorative: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    #: The core.variants.VARIANTS_VERSION its variants were made with; 0 for
    #: images stored before variants, which ``init-db`` then makes.
    variants_version: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0"
    )

    author: Mapped[Author | None] = relationship()
    variants: Mapped[list[ImageVariant]] = relationship(
        back_populates="image",
        cascade="all, delete-orphan",
        order_by="ImageVariant.width",
    )
    #: Its files' bytes: added with the image, deleted by the database with it.
    files: Mapped[list[ImageFile]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Image {self.id} {self.name!r}>"


class ImageVariant(Base):
    """A smaller or lighter copy of an image (core.variants), stored as ``name``."""

    __tablename__ = "image_variants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), index=True
    )
    #: The image's name, the width and a hash of the content: never reused.
    name: Mapped[str] = mapped_column(String(96), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)

    image: Mapped[Image] = relationship(back_populates="variants")

    def __repr__(self) -> str:
        return f"<ImageVariant {self.id} {self.name!r}>"


class ImageFile(Base):
    """The bytes of one stored image file: an original or one of its variants.

    The database holds every file, so that several hosts serve one blog with
    no shared folder; each host's upload folder is a cache filled from here
    (core.images.cached_file).
    """

    __tablename__ = "image_files"

    #: The file's name, as served under /media/: the image's or a variant's.
    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    #: The image it belongs to; its files go with it.
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)

    def __repr__(self) -> str:
        return f"<ImageFile {self.name!r} {len(self.data or b'')} bytes>"


class LoginSession(Base):
    """A logged-in browser; deleting the row logs it out on the next request."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int] = mapped_column(
        ForeignKey("authors.id", ondelete="CASCADE"), index=True
    )
    #: SHA-256 of the token in the cookie, so a copy of the database (a backup)
    #: holds nothing that would let anyone log in.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    author: Mapped[Author] = relationship()

    def __repr__(self) -> str:
        return f"<LoginSession {self.id} author={self.author_id}>"


class LoginFailure(Base):
    """One failed login, counted by the throttle under several keys."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username", "username", "failed_at"),
        Index("ix_login_failures_address", "address", "failed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The name as typed (normalized), whether or not such an author exists.
    username: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    def __repr__(self) -> str:
        return f"<LoginFailure {self.username!r} from {self.address}>"


class Autosave(Base):
    """An author's unsaved copy of a post form, kept every few seconds of typing.

    One per author and post (``post_id`` None: the author's new, never saved
    post). It is no version of the post: saving it never publishes anything
    nor changes the post, and the editor offers it back only while it is newer
    than the saved post.
    """

    __tablename__ = "autosaves"
    __table_args__ = (Index("ix_autosaves_author_post", "author_id", "post_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id", ondelete="CASCADE"))
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(Text, default="")
    slug: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16), default=POST)
    #: The publish date as typed in the form.
    published_at: Mapped[str] = mapped_column(String(32), default="")
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Autosave author={self.author_id} post={self.post_id}>"


class PendingForm(Base):
    """A post form sent after its author's login had expired, kept for a while.

    Logging in again opens the form with this text (unsaved); the one-time
    token that finds it travels in the login page's ``next`` address.
    """

    __tablename__ = "pending_forms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: SHA-256 of the one-time token, as for login sessions.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The post the form edited; None for a new post. No foreign key: a post
    #: deleted meanwhile leaves the text to be saved as a new one.
    post_id: Mapped[int | None] = mapped_column(Integer)
    #: The form's typed fields as a JSON object of strings.
    fields: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    def __repr__(self) -> str:
        return f"<PendingForm {self.id} post={self.post_id}>"


class ShareLink(Base):
    """A secret address that shows a draft or scheduled post before it is out."""

    __tablename__ = "share_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), index=True
    )
    #: SHA-256 of the token in the address: a copy of the database (a backup)
    #: opens no draft.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("authors.id", ondelete="SET NULL")
    )

    post: Mapped[Post] = relationship()

    def __repr__(self) -> str:
        return f"<ShareLink {self.id} post={self.post_id}>"

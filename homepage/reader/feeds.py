"""Feeds of the latest posts, for the whole site and for each tag.

Each feed comes in three formats, at the same address with another
extension: Atom (``.atom``), RSS 2.0 (``.rss``) and JSON Feed 1.1 (``.json``).
They carry the same posts, read by the same queries, with the same ids.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urljoin, urlsplit

from flask import Blueprint, abort, current_app, render_template
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from ..core.models import Post, Tag
from ..db import session
from . import caching, queries
from .queries import Timeline
from .templating import absolute_url, post_url, rfc3339, site_host

bp = Blueprint("feeds", __name__)
caching.cache_reader_pages(bp)

ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
JSON_FEED = "application/feed+json; charset=utf-8"
#: The extension of each format in the feed's address, and its content type.
CONTENT_TYPES = {"atom": ATOM, "rss": RSS, "json": JSON_FEED}
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

# Characters XML 1.0 forbids even when escaped; a title typed with one would
# otherwise make the whole feed unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Post HTML is the sanitizer's output (core.markdown.sanitize): every "<" in
# text is escaped and every attribute value quoted, so a start tag runs from
# "<name" to the first ">" outside quotes, and its attributes can be read one
# after the other without ever starting inside a value.
# Possessive quantifiers: a tag that never closes costs one pass, not a search
# through every way of splitting it.
_START_TAG = re.compile(r"""(<[A-Za-z][^\s/>]*+)((?:[^>"']++|"[^"]*+"|'[^']*+')*+)>""")
_ATTRIBUTE = re.compile(
    r"""([^\s"'/=>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?"""
)
#: Attributes whose value is an address, or (srcset) a list of addresses.
_URL_ATTRIBUTES = {"href", "src", "srcset", "poster", "cite"}
#: One address of a srcset, after the start or a comma.
_SRCSET_URL = re.compile(r"(^|,)(\s*)([^\s,]+)")


@dataclass(frozen=True)
class Channel:
    """What a feed says about itself, whatever its format."""

    title: str
    subtitle: str
    #: The endpoint and arguments of the feed itself, in each format.
    endpoint: str
    arguments: dict[str, str]
    #: The page of the site the feed follows.
    html_url: str

    def url(self, ext: str) -> str:
        """Return the feed's absolute address in the format of ``ext``."""
        return absolute_url(self.endpoint, ext=ext, **self.arguments)


def entry_id(post: Post) -> str:
    """Return the post's permanent feed id, which survives slug changes."""
    return f"tag:{site_host()},{post.created_at:%Y-%m-%d}:post-{post.id}"


def rfc822(value: datetime) -> str:
    """Format a moment as RSS wants it, e.g. "Thu, 05 Mar 2026 14:30:00 GMT"."""
    return format_datetime(value.astimezone(UTC), usegmt=True)


def _absolute(url: str, base: str) -> str:
    """Return ``url`` (as written in HTML) resolved against ``base``."""
    address = html.unescape(url)
    try:
        resolved = urljoin(base, address)
    except ValueError:
        # Not a URL urllib can read (a broken IPv6 host): left as written.
        return url
    # Only a relative address is rewritten, and only ever into a web one:
    # an absolute address stays exactly as the sanitizer let it through.
    if resolved == address or urlsplit(resolved).scheme not in ("http", "https"):
        return url
    return html.escape(resolved)


def absolute_html(fragment: str, base: str) -> str:
    """Resolve every relative address in post HTML against ``base``.

    Feed readers show a post away from the site, where ``/media/cat.png``
    or ``#note-1`` would lead nowhere; and not every reader honours Atom's
    ``xml:base``, which RSS and JSON Feed do not have anyway.
    """

    # A post names the same few addresses again and again; urljoin is slow.
    resolved: dict[str, str] = {}

    def absolute(url: str) -> str:
        if url not in resolved:
            resolved[url] = _absolute(url, base)
        return resolved[url]

    def attribute(match: re.Match) -> str:
        name = match[1].lower()
        value = next((v for v in match.group(2, 3, 4) if v is not None), None)
        if name not in _URL_ATTRIBUTES or value is None:
            return match[0]
        if name == "srcset":
            value = _SRCSET_URL.sub(
                lambda part: part[1] + part[2] + absolute(part[3]), value
            )
        else:
            value = absolute(value)
        return f'{match[1]}="{value}"'

    return _START_TAG.sub(
        lambda tag: tag[1] + _ATTRIBUTE.sub(attribute, tag[2]) + ">", fragment
    )


def latest(timeline: Timeline | None = None) -> list[Post]:
    """Return the newest visible posts of ``timeline`` (all posts), for a feed."""
    # Along the timeline's own index, as the index and tag pages read it: a
    # rare tag's feed must not walk every newer post of the blog. Then the
    # posts themselves, whole, by id.
    places = queries.stretch(
        None,
        None,
        current_app.config["FEED_SIZE"],
        queries.PLACE_COLUMNS,
        timeline=timeline,
    ).items
    ids = [place.id for place in places]
    posts = session.scalars(
        select(Post)
        .where(Post.id.in_(ids))
        .options(joinedload(Post.author), selectinload(Post.tags))
    )
    by_id = {post.id: post for post in posts}
    return [by_id[id] for id in ids]


def last_updated(posts: list[Post]) -> datetime:
    """Return when the feed of ``posts`` last changed."""
    if posts:
        return max(post.modified_at for post in posts)
    # Not "now": the same content must give the same bytes.
    validators = caching.this_request().validators
    return validators.last_modified if validators else _EPOCH


def render_xml(template: str, posts: list[Post], channel: Channel, ext: str) -> str:
    """Render the Atom or RSS document of ``posts``."""
    xml = render_template(
        template,
        posts=posts,
        updated=last_updated(posts),
        title=channel.title,
        subtitle=channel.subtitle,
        feed_id=channel.url("atom"),
        self_url=channel.url(ext),
        html_url=channel.html_url,
        entry_id=entry_id,
        post_url=post_url,
        absolute_html=absolute_html,
        rfc822=rfc822,
    )
    return _NOT_XML.sub("", xml)


def render_json(posts: list[Post], channel: Channel) -> str:
    """Render the JSON Feed 1.1 document of ``posts``."""
    items = []
    for post in posts:
        url = post_url(post, external=True)
        # No "summary": JSON Feed's is plain text, where a summary that shows
        # markup as words ("<script>") would be run by a careless reader.
        item = {
            "id": entry_id(post),
            "url": url,
            # The same text as the XML formats give, which must drop these.
            "title": _NOT_XML.sub("", post.title),
            "content_html": _NOT_XML.sub("", absolute_html(post.body_html, url)),
            # A visible post has a publish date; display_date says so to mypy.
            "date_published": rfc3339(post.display_date),
            "date_modified": rfc3339(post.modified_at),
            "authors": [{"name": post.author.username}],
            "tags": [tag.name for tag in post.tags],
        }
        items.append(item)
    feed = {
        "version": JSON_FEED_VERSION,
        "title": channel.title,
        "home_page_url": channel.html_url,
        "feed_url": channel.url("json"),
        "description": channel.subtitle,
        "language": "en",
        "items": items,
    }
    return json.dumps(feed, ensure_ascii=False, separators=(",", ":"))


def render_feed(posts: list[Post], channel: Channel, ext: str) -> tuple:
    """Render the feed of ``posts`` in the format of ``ext``, with its type."""
    if ext == "json":
        body = render_json(posts, channel)
    else:
        body = render_xml(f"reader/{ext}.xml", posts, channel, ext)
    return body, {"Content-Type": CONTENT_TYPES[ext]}


# Atom came first, and has the plain endpoint: url_for("feeds.site") is Atom.
@bp.get("/feed.atom", defaults={"ext": "atom"})
@bp.get("/feed.<any(rss, json):ext>")
def site(ext: str):
    """Serve the feed of the latest posts."""
    channel = Channel(
        title=current_app.config["SITE_TITLE"],
        subtitle=current_app.config["SITE_DESCRIPTION"],
        endpoint="feeds.site",
        arguments={},
        html_url=absolute_url("blog.index"),
    )
    return render_feed(latest(), channel, ext)


@bp.get("/tags/<name>/feed.atom", defaults={"ext": "atom"})
@bp.get("/tags/<name>/feed.<any(rss, json):ext>")
def tag(name: str, ext: str):
    """Serve the feed of the latest posts with one tag.

    :raise 404: when no visible post has the tag.
    """
    tag = session.scalars(select(Tag).where(Tag.name == name.lower())).first()
    if tag is None:
        abort(404)
    posts = latest(queries.tagged(tag.id))
    if not posts:
        abort(404)
    channel = Channel(
        title=f"{current_app.config['SITE_TITLE']}: {tag.name}",
        subtitle=f"Posts tagged “{tag.name}”",
        endpoint="feeds.tag",
        arguments={"name": tag.name},
        html_url=absolute_url("blog.tag", name=tag.name),
    )
    return render_feed(posts, channel, ext)

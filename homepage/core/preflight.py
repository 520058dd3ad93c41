"""Preflight: what an author may want to fix before publishing a post.

Plain functions on the rendered HTML of a post, plus a small look-up of the
site's own posts. They report, never fix: the author decides. The editor
shows the list after Preview and Save (and live, with JavaScript), and
``flask --app homepage doctor --content`` runs the same checks over every post.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

from flask import current_app
from sqlalchemy import select

from ..db import session
from . import images, pictures
from .markdown import BODY_TOP
from .models import PAGE, POST, Post, SlugRedirect, utcnow, visible_at

#: A finding readers would stumble on (a broken link, an image nobody can
#: describe); the others are advice.
ERROR = "error"
WARNING = "warning"

#: Link texts that say nothing about where the link goes, out of context (as
#: screen readers list links).
VAGUE_LINK_TEXTS = frozenset({"click here", "here", "link", "this link", "click"})
#: Words in a paragraph past which readers lose their way on a screen.
LONG_PARAGRAPH_WORDS = 250
#: Ids of the page around a post's body that a link inside it may target.
PAGE_IDS = frozenset({"content"})
#: How a link to a post or page of this site looks, relative or absolute.
_OWN_PATH = re.compile(r"/(posts|pages)/([^/?#]+)/?")

#: What the look-up says of a slug.
VISIBLE, NOT_OUT, MISSING = "visible", "not out", "missing"


@dataclass(frozen=True)
class Finding:
    """One thing preflight noticed: how bad, what, and where."""

    severity: str
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


def never_decorative(_src: str) -> bool:
    """Say no image is decorative: each needs its description."""
    return False


#: Answers, for a kind ("post" or "page") and a slug, VISIBLE, NOT_OUT or MISSING.
Lookup = Callable[[str, str], str]


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)


class _Collector(HTMLParser):
    """Collect what the checks look at: images, headings, links, paragraphs, ids."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict[str, str | None]] = []
        self.headings: list[tuple[int, str]] = []
        self.links: list[tuple[str, str]] = []
        self.paragraphs: list[str] = []
        self.ids: set[str] = set()
        self._open: list[_Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "img":
            self.images.append(values)
            # An image inside a link is the link's text, by its alt.
            for element in self._open:
                if element.tag == "a":
                    element.text.append(values.get("alt") or "")
            return
        if tag in {"a", "p", "h1", "h2", "h3", "h4", "h5", "h6"}:
            self._open.append(_Element(tag, {k: v or "" for k, v in values.items()}))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                element = self._open.pop(index)
                self._close(element)
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text.append(data)

    def _close(self, element: _Element) -> None:
        text = " ".join("".join(element.text).split())
        if element.tag == "a":
            self.links.append((element.attrs.get("href", ""), text))
        elif element.tag == "p":
            self.paragraphs.append(text)
        else:
            self.headings.append((int(element.tag[1]), text))


def check_html(
    html: str,
    *,
    summary: str = "",
    lookup: Lookup | None = None,
    is_decorative: Callable[[str], bool] = never_decorative,
    top: int = BODY_TOP,
    origins: Iterable[str] = (),
) -> list[Finding]:
    """Check a post's rendered body; return what the author should look at.

    :param summary: the summary as typed; empty means the first paragraph
        stands in for it.
    :param lookup: tells what a link to the site's own post or page finds;
        None skips those links.
    :param is_decorative: tells whether an image (by its ``src``) is marked
        decorative, so needs no description.
    :param top: the level of the highest heading the body may have.
    :param origins: the site's own ``scheme://host``, whose absolute links
        count as links to its posts.
    """
    collector = _Collector()
    collector.feed(html)
    collector.close()
    found: list[Finding] = []
    found += _images(collector.images, is_decorative)
    found += _headings(collector.headings, top)
    found += _links(collector.links, collector.ids | PAGE_IDS, lookup, tuple(origins))
    found += _paragraphs(collector.paragraphs)
    if not summary.strip():
        found.append(
            Finding(
                WARNING,
                "No summary: lists of posts and link previews show the first "
                "paragraph instead.",
            )
        )
    return found


def _images(images: list[dict[str, str | None]], is_decorative) -> Iterable[Finding]:
    """Find images without a description that are not marked decorative."""
    for image in images:
        src = image.get("src") or ""
        if not (image.get("alt") or "").strip() and not is_decorative(src):
            yield Finding(
                ERROR,
                f"The image {src} has no description (alt text) for people "
                "who cannot see it.",
            )


def _headings(headings: list[tuple[int, str]], top: int) -> Iterable[Finding]:
    """Find headings that skip a level below the one before them."""
    previous = top - 1
    for level, text in headings:
        if level > previous + 1:
            yield Finding(
                WARNING,
                f"The heading “{text}” skips a level: it is level {level - top + 1} "
                f"right after level {max(previous - top + 1, 0)}.",
            )
        previous = level


def _links(
    links: list[tuple[str, str]],
    ids: set[str],
    lookup: Lookup | None,
    origins: tuple[str, ...],
) -> Iterable[Finding]:
    """Find vague link texts, broken #anchors, and links to unpublished posts."""
    for href, text in links:
        if text.lower().strip(" .!:") in VAGUE_LINK_TEXTS:
            yield Finding(
                WARNING,
                f"The link text “{text}” does not say where the link goes; "
                "use words that describe it.",
            )
        if href.startswith("#"):
            target = unquote(href[1:])
            if target and target not in ids:
                yield Finding(ERROR, f"The link {href} leads to no place in the post.")
            continue
        if lookup is None:
            continue
        own = own_slug(href, origins)
        if own is None:
            continue
        kind, slug = own
        state = lookup(kind, slug)
        if state == MISSING:
            yield Finding(ERROR, f"The link {href} leads to no post of this site.")
        elif state == NOT_OUT:
            yield Finding(
                ERROR,
                f"The link {href} leads to a post readers cannot see yet "
                "(a draft or scheduled).",
            )


def own_slug(href: str, origins: Iterable[str] = ()) -> tuple[str, str] | None:
    """Return (kind, slug) when ``href`` points at a post or page of this site."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        if f"{parts.scheme}://{parts.netloc}" not in origins:
            return None
    match = _OWN_PATH.fullmatch(parts.path)
    if match is None:
        return None
    return (POST if match[1] == "posts" else PAGE), unquote(match[2])


def _paragraphs(paragraphs: list[str]) -> Iterable[Finding]:
    """Find paragraphs too long to read on a screen."""
    for text in paragraphs:
        words = len(text.split())
        if words > LONG_PARAGRAPH_WORDS:
            start = " ".join(text.split()[:6])
            yield Finding(
                WARNING,
                f"The paragraph starting “{start} …” has {words} words; "
                f"consider splitting it (more than {LONG_PARAGRAPH_WORDS} are "
                "hard to follow).",
            )


def site_lookup(kind: str, slug: str) -> str:
    """Tell what a link to the site's own ``kind`` at ``slug`` finds now."""
    post = session.scalars(
        select(Post).where(Post.slug == slug, Post.deleted_at.is_(None))
    ).first()
    if post is None:
        redirect = session.get(SlugRedirect, slug)
        if redirect is None:
            return MISSING
        post = session.get(Post, redirect.post_id)
        if post is None:
            return MISSING
    if visible_at(post.status, post.published_at, utcnow(), post.deleted_at):
        return VISIBLE
    return NOT_OUT


def check_for_site(
    body_html: str, summary: str, share_image: str | None = None
) -> list[Finding]:
    """Check a body rendered for readers against this site's posts and images.

    An image the library marks decorative needs no description.

    :param share_image: the share image the author named ("" for none), or
        None not to check what link previews show.
    """
    sources = [source for source, _alt in pictures.alt_texts(body_html)]
    found = check_html(
        body_html,
        summary=summary,
        lookup=site_lookup,
        is_decorative=images.decorative_sources(sources).__contains__,
        origins=site_origins(current_app.config.get("SITE_URL")),
    )
    if share_image == "" and not pictures.sources(body_html):
        found.append(
            Finding(
                WARNING,
                "No share image: link previews of this post show no picture. "
                "Name one under Share image, or show a library image in the post.",
            )
        )
    return found


def check_post(post: Post) -> list[Finding]:
    """Check a stored post, as the editor checks its form."""
    return check_for_site(post.body_html, post.summary, post.share_image or "")


def site_origins(site_url: str | None) -> tuple[str, ...]:
    """Return the ``scheme://host`` of the configured SITE_URL, if any."""
    if not site_url:
        return ()
    parts = urlsplit(site_url)
    return (f"{parts.scheme}://{parts.netloc}",) if parts.netloc else ()

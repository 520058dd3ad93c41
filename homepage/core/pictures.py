"""Responsive pictures: the library's images in a post, as the browser needs them.

A post's Markdown shows an uploaded image as ``![alt](/media/NAME)``. Once the
Markdown is rendered and sanitized, :func:`responsive` rewrites each such
``<img>`` whose NAME is a row of the image library into a ``<picture>``: AVIF
and WebP ``<source>`` elements and an ``<img>`` with a ``srcset`` of the
image's widths (core.variants), ``sizes`` for the post's column, its
``width`` and ``height`` (so the page does not shift as it loads),
``decoding="async"`` and ``loading="lazy"``, but for the post's first image
(``loading="eager"``), which is often the largest thing on screen and must not
wait.

This runs at save time, after the sanitizer: the attributes it writes come
from the database (hex names, numbers), never from the author, and the
sanitizer still refuses them in the author's own HTML. Any other image (an
address elsewhere, a name no row has) is left exactly as the sanitizer left
it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import unescape

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, scoped_session

from .models import Image, ImageVariant

#: Where the files are served; a post shows an image through /media/NAME.
MEDIA_PATH = "/media/"
#: How wide an image in a post is drawn: the 40rem column, or the screen less
#: the page's 1rem margins (static/style.css, .wrap).
SIZES = "(min-width: 42rem) 40rem, calc(100vw - 2rem)"
#: The column's width and the page's margins, in CSS pixels (1rem = 16px).
COLUMN = 640
MARGINS = 32
#: The formats offered as <source> elements, best first; the <img> carries
#: the original format.
_LIGHT = ("image/avif", "image/webp")

_IMG = re.compile(r"<img\b([^>]*?)\s*/?>")
_ATTRIBUTE = re.compile(r'([a-z][a-z-]*)="([^"]*)"')
#: A library image's address as a post shows it.
_SOURCE = re.compile(r"/media/([0-9a-f]{32}\.(?:jpg|png|gif|webp))")


@dataclass
class Picture:
    """What a post needs to know of a library image to show it."""

    name: str
    content_type: str
    width: int
    height: int
    alt: str = ""
    decorative: bool = False
    #: The variants by content type: (name, width), narrowest first.
    sources: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def srcset(self, content_type: str) -> str:
        """Return the ``srcset`` of the files of ``content_type``."""
        files = list(self.sources.get(content_type, []))
        if content_type == self.content_type:
            files.append((self.name, self.width))
        return ", ".join(f"{MEDIA_PATH}{name} {width}w" for name, width in files)


Executor = Connection | Session | scoped_session


def sources(html: str) -> list[str]:
    """Return the library names the ``<img>`` elements of ``html`` show, in order."""
    names = []
    for match in _IMG.finditer(html):
        attributes = dict(_ATTRIBUTE.findall(match[1]))
        if found := _SOURCE.fullmatch(attributes.get("src", "")):
            names.append(found[1])
    return names


def library(executor: Executor, names: Iterable[str]) -> dict[str, Picture]:
    """Return the library images named ``names``, with their variants, by name.

    :param executor: the session, or a connection (the upgrade renders posts
        on its own connection).
    """
    wanted = sorted(set(names))
    if not wanted:
        return {}
    pictures = {
        row.name: Picture(
            row.name, row.content_type, row.width, row.height, row.alt, row.decorative
        )
        for row in executor.execute(
            select(
                Image.id,
                Image.name,
                Image.content_type,
                Image.width,
                Image.height,
                Image.alt,
                Image.decorative,
            ).where(Image.name.in_(wanted))
        )
    }
    rows = executor.execute(
        select(
            Image.name, ImageVariant.name, ImageVariant.content_type, ImageVariant.width
        )
        .join(ImageVariant, ImageVariant.image_id == Image.id)
        .where(Image.name.in_(wanted))
        .order_by(ImageVariant.width)
    )
    for image_name, name, content_type, width in rows:
        pictures[image_name].sources.setdefault(content_type, []).append((name, width))
    return pictures


def responsive(
    html: str, pictures: Mapping[str, Picture], *, first_eager: bool = True
) -> str:
    """Rewrite the library images of sanitized ``html`` as responsive pictures.

    :param first_eager: load the first library image at once (a post's body);
        False leaves every image lazy (a summary in a list of posts).
    """
    eager = first_eager

    def rewrite(match: re.Match) -> str:
        nonlocal eager
        attributes = dict(_ATTRIBUTE.findall(match[1]))
        found = _SOURCE.fullmatch(attributes.get("src", ""))
        picture = pictures.get(found[1]) if found else None
        if picture is None:
            return match[0]
        html = _picture(picture, attributes, eager)
        eager = False
        return html

    return _IMG.sub(rewrite, html)


def sizes(width: int) -> str:
    """Return the ``sizes`` of an image ``width`` pixels wide in a post.

    An image narrower than the column is drawn at its own width (its
    ``width`` attribute, up to the screen's), so the browser must not fetch
    a file for the whole column; it would also count the file as shown at a
    lower density.
    """
    if width >= COLUMN:
        return SIZES
    return f"(min-width: {width + MARGINS}px) {width}px, calc(100vw - 2rem)"


def _picture(picture: Picture, attributes: dict[str, str], eager: bool) -> str:
    """Return the ``<picture>`` (or lone ``<img>``) that shows ``picture``."""
    # The values below are escaped as the sanitizer left them; the rest are
    # hex names and numbers.
    img = [f'src="{MEDIA_PATH}{picture.name}"', f'alt="{attributes.get("alt", "")}"']
    if "title" in attributes:
        img.append(f'title="{attributes["title"]}"')
    if srcset := picture.srcset(picture.content_type):
        if picture.sources.get(picture.content_type):
            img.append(f'srcset="{srcset}" sizes="{sizes(picture.width)}"')
    img.append(f'width="{picture.width}" height="{picture.height}"')
    img.append('decoding="async"')
    # fetchpriority="high" would help the first one further, but the HTML
    # checker the tests run does not know it yet; eager loading is the gain.
    img.append('loading="eager"' if eager else 'loading="lazy"')
    tag = f"<img {' '.join(img)}>"
    lighter = [
        f'<source type="{kind}" srcset="{picture.srcset(kind)}" '
        f'sizes="{sizes(picture.width)}">'
        for kind in _LIGHT
        if kind != picture.content_type and picture.sources.get(kind)
    ]
    if not lighter:
        return tag
    return f"<picture>{''.join(lighter)}{tag}</picture>"


def alt_texts(html: str) -> list[tuple[str, str]]:
    """Return the (src, alt) of every ``<img>`` of sanitized ``html``, unescaped."""
    found = []
    for match in _IMG.finditer(html):
        attributes = dict(_ATTRIBUTE.findall(match[1]))
        found.append(
            (unescape(attributes.get("src", "")), unescape(attributes.get("alt", "")))
        )
    return found

"""Moving in from WordPress: reading an export (WXR) and importing what it holds.

A WordPress export is an RSS file with WordPress's own elements (``wp:``) for
everything RSS lacks. Its posts and pages become posts and pages here, its
categories and tags become tags, its authors authors (without a password
until the owner sets one), its images go through the upload pipeline
(:mod:`homepage.core.images`), and each post remembers the addresses it had
there, so that the reader can answer old permalinks with redirects.

The work runs in three steps, so that the database's write lock is never held
for long: the file is read and checked whole (a refused file changes
nothing), the images are cleaned and stored one short transaction each, then
every post is converted and rendered before a short transaction adds it.
Whatever was imported before (matched on WordPress's guid, or the file's
path for images) is skipped, so importing twice creates no duplicates.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml
from bs4 import BeautifulSoup
from bs4.element import Tag as HTMLTag
from defusedxml import ElementTree
from flask import current_app
from markdownify import ATX, BACKSLASH, MarkdownConverter
from slugify import slugify
from sqlalchemy import select

from ..db import session, write_transaction
from . import images, posts, zone
from .authors import AuthorError, add_author_without_password, find_author
from .imagefiles import ImageError
from .models import (
    DRAFT,
    PAGE,
    POST,
    PUBLISHED,
    Author,
    Image,
    Post,
    Tag,
    WordPressImage,
    WordPressPost,
    WordPressTerm,
)

# -- reading the file --------------------------------------------------------------

#: The forms WordPress has written its namespace in: 1.0 to 1.2, over http
#: and (in some exports, rewritten by plugins or proxies) https.
_WP_NAMESPACE = re.compile(r"https?://wordpress\.org/export/1\.[0-2]/")
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
#: What WordPress writes for a date it does not have (a draft's GMT date).
_NO_DATE = "0000-00-00 00:00:00"
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

#: WordPress's statuses, and what they become here.
STATUSES = {
    "publish": PUBLISHED,
    "future": PUBLISHED,
    "draft": DRAFT,
    "pending": DRAFT,
    "private": DRAFT,
}
#: Statuses of items that are not content: WordPress's trash and the empty
#: drafts it makes whenever the editor is opened.
_LEFT_OUT_STATUSES = {
    "trash": "it was in WordPress's trash",
    "auto-draft": "it is an empty automatic draft",
}
KINDS = {"post": POST, "page": PAGE}
#: The category every WordPress post has unless the author chose one; as a
#: tag it would say nothing.
_DEFAULT_CATEGORY = "uncategorized"


class WXRError(Exception):
    """A file that is not a WordPress export this importer can read."""


@dataclass
class Term:
    """A category or tag as an item names it."""

    taxonomy: str
    nicename: str
    name: str


@dataclass
class Item:
    """One ``<item>`` of the export: a post, page, attachment, menu item..."""

    wordpress_id: int
    guid: str
    title: str
    link: str
    creator: str
    content: str
    excerpt: str
    post_type: str
    status: str
    name: str
    parent: int
    date_gmt: str
    date_local: str
    attachment_url: str
    terms: list[Term] = field(default_factory=list)
    comments: int = 0

    @property
    def key(self) -> str:
        """Return what identifies the item across imports."""
        return self.guid or f"id:{self.wordpress_id}"

    @property
    def label(self) -> str:
        """Name the item in the report."""
        title = " ".join(html.unescape(self.title).split()) or "(no title)"
        return f"{self.post_type} {title!r} (id {self.wordpress_id})"


@dataclass
class Export:
    """What a WordPress export holds."""

    site: str
    authors: list[str]
    terms: list[Term]
    items: list[Item]


def _text(parent: Element, tag: str) -> str:
    """Return the text of ``parent``'s child ``tag``, or an empty string."""
    child = parent.find(tag)
    return (child.text or "") if child is not None else ""


def _integer(text: str) -> int:
    """Read a number WordPress wrote; 0 when there is none."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else 0


def _check_sizes(root: Element, limit: int) -> None:
    """Refuse an export with an element or attribute longer than ``limit``."""
    for element in root.iter():
        texts = [element.text or "", element.tail or "", *element.attrib.values()]
        if any(len(text) > limit for text in texts):
            name = element.tag.rpartition("}")[2]
            raise WXRError(
                f"the element <{name}> is longer than {limit:,} characters; "
                "no post is that long"
            )


def read_export(data: bytes) -> Export:
    """Parse a WordPress export, refusing anything hostile or foreign.

    DTDs are refused outright, and with them every entity and external
    reference: a WordPress export has none, and they are how XML files
    expand to gigabytes or read the server's files.

    :raise WXRError: with the reason, when the file cannot be imported.
    """
    limit = current_app.config["WXR_MAX_BYTES"]
    if len(data) > limit:
        raise WXRError(f"the file is larger than {limit:,} bytes")
    try:
        root = ElementTree.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DTDForbidden as exc:
        raise WXRError(
            "the file declares a DTD (entities or external references), "
            "which a WordPress export never does"
        ) from exc
    except defusedxml.DefusedXmlException as exc:
        raise WXRError(f"the file is refused: {exc}") from exc
    except ParseError as exc:
        raise WXRError(f"the file is not well-formed XML ({exc})") from exc
    _check_sizes(root, current_app.config["WXR_MAX_ELEMENT"])
    channel = root.find("channel") if root.tag == "rss" else None
    namespace = None
    if channel is not None:
        for child in channel:
            uri = child.tag[1:].partition("}")[0] if child.tag[:1] == "{" else ""
            if _WP_NAMESPACE.fullmatch(uri) and child.tag.endswith("}wxr_version"):
                namespace = uri
                break
    if channel is None or namespace is None:
        raise WXRError(
            "the file is not a WordPress export (an RSS file with a "
            "wp:wxr_version, as Tools > Export in WordPress writes)"
        )
    return _read_channel(channel, namespace)


def _read_channel(channel: Element, ns: str) -> Export:
    """Read the authors, terms and items of an export's channel."""
    wp = "{" + ns + "}"
    excerpt_tag = "{" + ns + "excerpt/}encoded"
    authors = [
        login
        for author in channel.findall(f"{wp}author")
        if (login := _text(author, f"{wp}author_login").strip())
    ]
    terms = [
        Term("category", _text(c, f"{wp}category_nicename"), _text(c, f"{wp}cat_name"))
        for c in channel.findall(f"{wp}category")
    ]
    terms += [
        Term("post_tag", _text(t, f"{wp}tag_slug"), _text(t, f"{wp}tag_name"))
        for t in channel.findall(f"{wp}tag")
    ]
    items = []
    for element in channel.findall("item"):
        item = Item(
            wordpress_id=_integer(_text(element, f"{wp}post_id")),
            guid=_text(element, "guid").strip(),
            title=_text(element, "title"),
            link=_text(element, "link").strip(),
            creator=_text(element, _DC_CREATOR).strip(),
            content=_text(element, _CONTENT),
            excerpt=_text(element, excerpt_tag),
            post_type=_text(element, f"{wp}post_type").strip() or "post",
            status=_text(element, f"{wp}status").strip(),
            name=_text(element, f"{wp}post_name").strip(),
            parent=_integer(_text(element, f"{wp}post_parent")),
            date_gmt=_text(element, f"{wp}post_date_gmt").strip(),
            date_local=_text(element, f"{wp}post_date").strip(),
            attachment_url=_text(element, f"{wp}attachment_url").strip(),
            comments=len(element.findall(f"{wp}comment")),
        )
        for category in element.findall("category"):
            domain = category.get("domain", "")
            if domain in ("category", "post_tag"):
                item.terms.append(
                    Term(domain, category.get("nicename", ""), category.text or "")
                )
        items.append(item)
    return Export(_text(channel, "link").strip(), authors, terms, items)


# -- dates, slugs, titles, tags -------------------------------------------------------


def publish_date(item: Item) -> tuple[datetime | None, bool]:
    """Return when the item was (or will be) published, in UTC.

    WordPress writes the date twice: in UTC, and in the site's time zone. A
    draft has no UTC date (``0000-00-00 00:00:00``); then the local date is
    read in this site's time zone (SITE_TIMEZONE), on the assumption that the
    WordPress site used the same one, since the export does not say.

    :return: the date, and whether it came from the local date.
    """
    for text, local in ((item.date_gmt, False), (item.date_local, True)):
        if not text or text == _NO_DATE:
            continue
        try:
            value = datetime.strptime(text, _DATE_FORMAT)
        except ValueError:
            continue
        if local:
            return zone.from_local(value), True
        return value.replace(tzinfo=UTC), False
    return None, False


def wordpress_slug(item: Item) -> str:
    """Return the item's slug as its permalinks carry it, decoded and lower-case."""
    # WordPress keeps non-ASCII slugs percent-encoded (%e6%97%a5...).
    return unquote(item.name).strip().lower()[:400]


def title_of(item: Item) -> str:
    """Return the item's title as plain text, at most posts.MAX_TITLE long."""
    # Titles are stored as typed in WordPress, entities and all (&#038;).
    text = BeautifulSoup(html.unescape(item.title), "html.parser").get_text()
    return " ".join(text.split())[: posts.MAX_TITLE] or "Untitled"


def tag_name(term: Term) -> str:
    """Return the tag a category or tag becomes: no / ? #, at most MAX_TAG long."""
    text = " ".join(html.unescape(term.name or term.nicename).split()).lower()
    return re.sub(r"[/?#]", "-", text)[: posts.MAX_TAG].strip()


def tags_of(item: Item) -> list[str]:
    """Return the tags of an item: its categories (but the default) and tags."""
    names = [
        tag_name(term)
        for term in item.terms
        if not (term.taxonomy == "category" and term.nicename == _DEFAULT_CATEGORY)
    ]
    unique = dict.fromkeys(names)
    return [name for name in unique if name and not posts.tag_problem(name)]


# -- content -----------------------------------------------------------------------

#: Tags that start a block of their own, which wpautop does not wrap in <p>.
_BLOCK_START = re.compile(
    r"\s*<(?:p|div|h[1-6]|ul|ol|li|blockquote|pre|table|thead|tbody|tfoot|tr|td|th|"
    r"figure|figcaption|hr|dl|dt|dd|form|address|section|article|aside|header|"
    r"footer|nav|details|summary|iframe|video|audio|object|embed|style|script|"
    r"noscript|hgroup|fieldset|legend|map|area|math|svg)[\s/>]"
    # A <pre> block set aside by _split_pre.
    r"|\s*\x00",
    re.IGNORECASE,
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_SHORTCODE_ATTRIBUTE = re.compile(r"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))""")
_GALLERY = re.compile(r"\[gallery\b([^\]]{0,2000})\]")
_CAPTION_PARTS = re.compile(
    r"\s*((?:<a\b[^>]*>\s*)?<img\b[^>]*>(?:\s*</a>)?)(.*)", re.DOTALL | re.IGNORECASE
)
#: The size WordPress adds to the name of each resized copy: photo-300x200.jpg.
_RESIZED = re.compile(r"(.+)-(?:\d{1,5}x\d{1,5}|scaled)(\.[A-Za-z0-9]{1,5})")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
UPLOADS_MARK = "/wp-content/uploads/"


def strip_block_comments(text: str) -> str:
    """Remove the block editor's ``<!-- wp:... -->`` comments, keeping the rest.

    With str.find rather than a regular expression: a file full of openers
    without an end would make a lazy pattern rescan the text for each.
    """
    parts = []
    position = 0
    while (start := text.find("<!--", position)) != -1:
        after = text[start + 4 :].lstrip()[:4]
        end = text.find("-->", start + 4)
        if end == -1:
            break
        if after.startswith(("wp:", "/wp:")):
            parts.append(text[position:start])
        else:
            parts.append(text[position : end + 3])
        position = end + 3
    parts.append(text[position:])
    return "".join(parts)


def has_blocks(text: str) -> bool:
    """Tell whether the content was written with the block editor."""
    return "<!-- wp:" in text


def _shortcode_attributes(text: str) -> dict[str, str]:
    """Read the attributes of a shortcode: ``ids="1,2" columns='3' size=large``."""
    return {
        match.group(1).lower(): next(g for g in match.groups()[1:] if g is not None)
        for match in _SHORTCODE_ATTRIBUTE.finditer(text)
    }


def expand_captions(text: str) -> str:
    """Turn each ``[caption]<img> text[/caption]`` into a figure with a caption."""
    parts = []
    position = 0
    while (start := text.find("[caption", position)) != -1:
        opened = text.find("]", start)
        end = text.find("[/caption]", opened + 1) if opened != -1 else -1
        if end == -1:
            break
        attributes = _shortcode_attributes(text[start + 8 : opened])
        inner = text[opened + 1 : end]
        match = _CAPTION_PARTS.fullmatch(inner)
        image, caption = (match.group(1), match.group(2)) if match else ("", inner)
        caption = caption.strip() or attributes.get("caption", "")
        parts.append(text[position:start])
        parts.append(f"<figure>{image}<figcaption>{caption}</figcaption></figure>")
        position = end + len("[/caption]")
    parts.append(text[position:])
    return "".join(parts)


def expand_galleries(
    text: str, post_id: int, attachments: dict[int, Item], children: dict[int, list]
) -> str:
    """Turn each ``[gallery]`` into its images: those it names, or the post's own."""

    def images_of(match: re.Match) -> str:
        attributes = _shortcode_attributes(match.group(1))
        if "ids" in attributes:
            ids = [_integer(part) for part in attributes["ids"].split(",")]
        else:
            ids = children.get(post_id, [])
        shown = [attachments[i] for i in ids if i in attachments]
        figures = "".join(
            f'<p><img src="{html.escape(item.attachment_url)}" '
            f'alt="{html.escape(title_of(item) if item.title else "")}"></p>'
            for item in shown
        )
        return f"<div>{figures}</div>" if figures else match.group(0)

    return _GALLERY.sub(images_of, text)


def _split_pre(text: str) -> tuple[str, list[str]]:
    """Set ``<pre>`` blocks aside, whose blank lines are not paragraph breaks."""
    kept: list[str] = []
    parts = []
    position = 0
    lower = text.lower()
    while (start := lower.find("<pre", position)) != -1:
        end = lower.find("</pre>", start)
        if end == -1:
            break
        parts.append(text[position:start])
        # A paragraph of its own, as WordPress makes of a <pre>.
        parts.append(f"\n\n\x00{len(kept)}\x00\n\n")
        kept.append(text[start : end + 6])
        position = end + 6
    parts.append(text[position:])
    return "".join(parts), kept


def autop(text: str) -> str:
    """Make paragraphs of classic-editor text, as WordPress's wpautop does.

    WordPress stores classic posts with blank lines between paragraphs and
    adds the <p> and <br> tags only when it shows them.
    """
    text, kept = _split_pre(text.replace("\r\n", "\n").replace("\r", "\n"))
    blocks = []
    for chunk in _BLANK_LINE.split(text):
        if not chunk.strip():
            continue
        if _BLOCK_START.match(chunk):
            blocks.append(chunk)
        else:
            lines = chunk.strip("\n").replace("\n", "<br>\n")
            blocks.append(f"<p>{lines}</p>")
    joined = "\n\n".join(blocks)
    for number, block in enumerate(kept):
        joined = joined.replace(f"\x00{number}\x00", block, 1)
    return joined


class _Converter(MarkdownConverter):
    """markdownify, with figures, captions and embeds the way this blog shows them."""

    def convert_figure(self, el, text, parent_tags):
        """Keep a figure as a block of its own."""
        return f"\n\n{text.strip()}\n\n"

    def convert_figcaption(self, el, text, parent_tags):
        """Show a caption as an emphasized line under its image."""
        text = " ".join(text.split())
        return f"\n\n*{text}*\n\n" if text else ""

    def convert_iframe(self, el, text, parent_tags):
        """Keep an embedded video or map as a link to it."""
        src = el.attrs.get("src", "")
        return f"\n\n<{src}>\n\n" if src.startswith(("http://", "https://")) else ""


def to_markdown(content: str, image_url) -> str:
    """Convert WordPress content (expanded and wrapped) to Markdown.

    :param image_url: maps an image's address in WordPress to its address
        here (the same one when the image stays where it was).
    """
    soup = BeautifulSoup(content, "html.parser")
    for img in soup.find_all("img"):
        if isinstance(img, HTMLTag) and isinstance(img.get("src"), str):
            img["src"] = image_url(img["src"])
    for link in soup.find_all("a"):
        href = link.get("href") if isinstance(link, HTMLTag) else None
        if isinstance(href, str) and is_image_address(href):
            link["href"] = image_url(href)
    # A captioned image without alternative text is described by its caption.
    for figure in soup.find_all("figure"):
        picture, caption = figure.find("img"), figure.find("figcaption")
        if isinstance(picture, HTMLTag) and caption and not picture.get("alt"):
            picture["alt"] = " ".join(caption.get_text().split())[:200]
    # A backslash, not two trailing spaces, for <br>: editors strip the latter.
    converter = _Converter(heading_style=ATX, bullets="-", newline_style=BACKSLASH)
    markdown = converter.convert_soup(soup)
    # markdownify leaves runs of blank lines where blocks met.
    return re.sub(r"\n{3,}", "\n\n", markdown).strip() + "\n"


def prepare_content(
    item: Item, attachments: dict[int, Item], children: dict[int, list]
) -> str:
    """Return an item's content as the HTML WordPress would show."""
    text = item.content
    blocks = has_blocks(text)
    text = strip_block_comments(text)
    text = expand_captions(text)
    text = expand_galleries(text, item.wordpress_id, attachments, children)
    # WordPress adds paragraphs to classic content only; block content has
    # its own <p> tags, and blank lines there mean nothing.
    return text if blocks else autop(text)


def is_image_address(url: str) -> bool:
    """Tell whether ``url`` names an image by its file name."""
    path = urlsplit(url).path.lower()
    return path.endswith(_IMAGE_SUFFIXES)


def upload_path(url: str) -> str | None:
    """Return the path under ``wp-content/uploads`` that ``url`` names, if any."""
    path = unquote(urlsplit(url).path)
    _, mark, rest = path.partition(UPLOADS_MARK)
    if not mark or not rest:
        return None
    parts = PurePosixPath(rest).parts
    if any(part in ("", ".", "..") for part in parts) or "\\" in rest:
        return None
    return rest


def original_of(relative: str, uploads: Path) -> str:
    """Return the original of a resized copy (photo-300x200.jpg), if it exists."""
    match = _RESIZED.fullmatch(relative)
    if match:
        original = match.group(1) + match.group(2)
        if (uploads / original).is_file():
            return original
    return relative


def image_references(text: str) -> Iterable[str]:
    """Return the addresses of images in a WordPress text, with links to them."""
    soup = BeautifulSoup(text, "html.parser")
    for img in soup.find_all("img"):
        src = img.get("src") if isinstance(img, HTMLTag) else None
        if isinstance(src, str):
            yield src
    for link in soup.find_all("a"):
        href = link.get("href") if isinstance(link, HTMLTag) else None
        if isinstance(href, str) and is_image_address(href):
            yield href


# -- the report ------------------------------------------------------------------------


@dataclass
class Report:
    """What an import did: counts per type, what was skipped and why, notes."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("posts", "pages", "drafts", "scheduled", "authors", "tags", "images"), 0
        )
    )
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    remote_images: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Return the counts in one sentence."""
        counts = self.counts
        return (
            f"Imported {counts['posts']} posts and {counts['pages']} pages "
            f"({counts['drafts']} drafts, {counts['scheduled']} scheduled), "
            f"{counts['authors']} authors, {counts['tags']} tags and "
            f"{counts['images']} images; skipped {len(self.skipped)} items."
        )

    def lines(self) -> list[str]:
        """Return the whole report, one line per fact."""
        lines = [f"imported  {line}" for line in self.imported]
        lines += [f"skipped   {line}" for line in self.skipped]
        lines += [f"remote    {url}" for url in self.remote_images]
        lines += [f"note      {note}" for note in self.notes]
        return [*lines, self.summary()]


# -- importing ------------------------------------------------------------------------


@dataclass
class _Plan:
    """What an export adds, worked out before anything is written."""

    new: list[Item]
    attachments: dict[int, Item]
    children: dict[int, list[int]]


def _plan(export: Export, report: Report) -> _Plan:
    """Sort the items: new posts and pages, attachments, and what is skipped."""
    # Every guid imported so far, rather than those of the export: an IN list
    # of a large export's items would pass SQLite's limit on parameters.
    done = set(session.scalars(select(WordPressPost.guid)))
    attachments: dict[int, Item] = {}
    children: dict[int, list[int]] = {}
    new: list[Item] = []
    comments = 0
    skipped_types: dict[str, int] = {}
    for item in export.items:
        comments += item.comments
        if item.post_type == "attachment":
            attachments[item.wordpress_id] = item
            children.setdefault(item.parent, []).append(item.wordpress_id)
        elif item.post_type not in KINDS:
            skipped_types[item.post_type] = skipped_types.get(item.post_type, 0) + 1
        elif item.key in done:
            report.skipped.append(f"{item.label}: imported before")
        elif item.status in _LEFT_OUT_STATUSES:
            report.skipped.append(f"{item.label}: {_LEFT_OUT_STATUSES[item.status]}")
        elif item.status not in STATUSES:
            report.skipped.append(f"{item.label}: unknown status {item.status!r}")
        else:
            new.append(item)
    for post_type, number in sorted(skipped_types.items()):
        reason = (
            "menus are not imported; this blog lists its pages by itself"
            if post_type == "nav_menu_item"
            else "not a post or page; this blog has no such type"
        )
        report.skipped.append(f"{number} {post_type} items: {reason}")
    if comments:
        report.skipped.append(
            f"{comments} comments: this blog has no comments, so none are imported"
        )
    return _Plan(new, attachments, children)


class _Images:
    """The images of an import: WordPress addresses to addresses here."""

    def __init__(self, uploads: Path | None, importer: Author | None, report: Report):
        self.uploads = uploads.resolve() if uploads is not None else None
        self.importer = importer
        self.report = report
        #: Paths under the uploads folder to the name of their image here.
        self.stored: dict[str, str] = {}
        self.missing: set[str] = set()
        self.remote: dict[str, None] = {}

    def source_of(self, url: str) -> str | None:
        """Return the file in the uploads folder that ``url`` names, if there."""
        if self.uploads is None:
            return None
        relative = upload_path(url)
        if relative is None:
            return None
        relative = original_of(relative, self.uploads)
        path = (self.uploads / relative).resolve()
        if not path.is_relative_to(self.uploads) or not path.is_file():
            return None
        return relative

    def add(self, url: str, label: str) -> bool:
        """Store the image ``url`` names, once; say in the report why not."""
        relative = self.source_of(url)
        if relative is None:
            if self.uploads is not None and upload_path(url) is not None:
                if url not in self.missing:
                    self.missing.add(url)
                    self.report.skipped.append(
                        f"{label}: {url} is not in the uploads folder"
                    )
            return False
        if relative in self.stored:
            return True
        known = session.scalars(
            select(Image.name)
            .join(WordPressImage, WordPressImage.image_id == Image.id)
            .where(WordPressImage.source == relative)
        ).first()
        if known is not None:
            self.stored[relative] = known
            return True
        assert self.uploads is not None
        path = self.uploads / relative
        limit = current_app.config["MAX_IMAGE_BYTES"]
        with path.open("rb") as file:
            data = file.read(limit + 1)
        if len(data) > limit:
            self.report.skipped.append(f"{label}: {relative} is too large")
            return False
        try:
            # The admin's own pipeline: decoded, turned upright, stripped of
            # metadata, stored under a random name.
            image = images.store(data, PurePosixPath(relative).name, self.importer)
        except ImageError as error:
            self.report.skipped.append(f"{label}: {relative}: {error.message}")
            return False
        try:
            with write_transaction():
                session.add(image)
                session.flush()
                session.add(WordPressImage(source=relative, image_id=image.id))
        except BaseException:
            (images.upload_folder() / image.name).unlink(missing_ok=True)
            raise
        self.stored[relative] = image.name
        self.report.counts["images"] += 1
        return True

    def address(self, url: str) -> str:
        """Return where the image at ``url`` is shown from now."""
        relative = self.source_of(url)
        if relative is not None and relative in self.stored:
            return images.MEDIA_PATH + self.stored[relative]
        if url.startswith(("http://", "https://")) and (
            is_image_address(url) or upload_path(url)
        ):
            self.remote.setdefault(url, None)
        return url


def _import_images(plan: _Plan, store: _Images) -> None:
    """Store every attachment's file and every image the new posts show."""
    for attachment in plan.attachments.values():
        url = attachment.attachment_url
        if store.uploads is None:
            continue
        if not url or not is_image_address(url):
            store.report.skipped.append(f"{attachment.label}: not an image")
            continue
        if store.source_of(url) is None:
            store.report.skipped.append(
                f"{attachment.label}: its file is not in the uploads folder"
            )
            continue
        store.add(url, attachment.label)
    for item in plan.new:
        text = expand_galleries(
            expand_captions(item.content),
            item.wordpress_id,
            plan.attachments,
            plan.children,
        )
        for url in image_references(text):
            store.add(url, item.label)


def _authors(export: Export, plan: _Plan, report: Report) -> dict[str, int]:
    """Return the author id of each login, adding the authors missing here."""
    logins = list(
        dict.fromkeys([*export.authors, *(item.creator for item in plan.new)])
    )
    logins = [login for login in logins if login]
    ids: dict[str, int] = {}
    missing = []
    for login in logins:
        author = find_author(login)
        if author is not None:
            ids[login] = author.id
        else:
            missing.append(login)
    if not missing:
        return ids
    with write_transaction():
        for login in missing:
            try:
                author = add_author_without_password(login)
            except AuthorError as error:
                report.skipped.append(f"author {login!r}: {error.message}")
                continue
            session.flush()
            ids[login] = author.id
            report.counts["authors"] += 1
            report.imported.append(
                f"author {login!r}: no password yet; set one with set-password"
            )
    return ids


def _fields(item: Item, plan: _Plan, store: _Images, report: Report):
    """Convert an item to checked post fields, or return why it cannot be."""
    html_text = prepare_content(item, plan.attachments, plan.children)
    body = to_markdown(html_text, store.address)
    if not body.strip():
        return None, "it has no content"
    summary = ""
    if item.excerpt.strip():
        summary = to_markdown(autop(item.excerpt), store.address).strip()
        if len(summary) > posts.MAX_SUMMARY:
            report.notes.append(
                f"{item.label}: the excerpt was cut to {posts.MAX_SUMMARY} characters"
            )
            summary = summary[: posts.MAX_SUMMARY]
    tags = tags_of(item)
    if len(tags) > posts.MAX_TAGS:
        report.notes.append(
            f"{item.label}: kept the first {posts.MAX_TAGS} of its {len(tags)} tags"
        )
        tags = tags[: posts.MAX_TAGS]
    fields = posts.PostFields(
        title=title_of(item),
        body=body,
        summary=summary,
        tags=", ".join(tags),
        status=STATUSES[item.status],
        kind=KINDS[item.post_type],
    )
    errors = posts.check_post(fields)
    if errors:
        return None, " ".join(errors.values())
    return fields, None


def _add_post(
    item: Item, fields: posts.PostFields, author_id: int, report: Report
) -> str | None:
    """Add one converted item in a short transaction; return its slug."""
    date, local = publish_date(item)
    base = slugify(wordpress_slug(item)) or fields.title
    with write_transaction():
        if session.get(WordPressPost, item.key) is not None:
            return None
        fields.slug = posts.unique_slug(base)
        if fields.status == PUBLISHED:
            fields.publish_at = date
        post = posts.save(Post(author_id=author_id), fields, None)
        if date is not None:
            post.created_at = date
        session.add(
            WordPressPost(
                guid=item.key,
                wordpress_id=item.wordpress_id,
                wordpress_slug=wordpress_slug(item) or fields.slug,
                post_id=post.id,
            )
        )
        slug = post.slug
    if local:
        report.notes.append(
            f"{item.label}: dated from its local time, read in {zone.zone_name()}"
        )
    return slug


def _count(item: Item, fields: posts.PostFields, report: Report) -> None:
    """Count an imported item by kind and status."""
    report.counts["pages" if fields.kind == PAGE else "posts"] += 1
    if fields.status == DRAFT:
        report.counts["drafts"] += 1
    elif item.status == "future":
        report.counts["scheduled"] += 1


def _remember_terms(export: Export, items: list[Item]) -> None:
    """Keep which tag each category and tag became, for their old addresses."""
    terms = {(t.taxonomy, t.nicename): t for t in export.terms if t.nicename}
    for item in items:
        for term in item.terms:
            if term.nicename:
                terms.setdefault((term.taxonomy, term.nicename), term)
    rows = {
        key: name
        for key, term in terms.items()
        if (name := tag_name(term)) and len(key[1]) <= 400
    }
    if not rows:
        return
    with write_transaction():
        for (taxonomy, nicename), name in rows.items():
            session.merge(
                WordPressTerm(
                    taxonomy=taxonomy, nicename=nicename.lower(), tag_name=name
                )
            )


def run_import(
    data: bytes, uploads: Path | None = None, importer: Author | None = None
) -> Report:
    """Import a WordPress export; return the report.

    :param uploads: a copy of the site's ``wp-content/uploads`` folder; without
        it, images stay where they are and the report lists them.
    :param importer: who runs the import (the owner in the admin), whose
        images the imported ones become; None from the command line.
    :raise WXRError: when the file is refused; then nothing has changed.
    """
    export = read_export(data)
    report = Report()
    plan = _plan(export, report)
    tags_before = set(session.scalars(select(Tag.name)))
    store = _Images(uploads, importer, report)
    _import_images(plan, store)
    authors = _authors(export, plan, report)
    fallback = importer.id if importer else _first_owner()
    used_tags: set[str] = set()
    for item in plan.new:
        author_id = authors.get(item.creator, fallback)
        if author_id is None:
            report.skipped.append(f"{item.label}: it has no author, nor has the site")
            continue
        fields, problem = _fields(item, plan, store, report)
        if fields is None:
            report.skipped.append(f"{item.label}: {problem}")
            continue
        slug = _add_post(item, fields, author_id, report)
        if slug is None:
            report.skipped.append(f"{item.label}: imported before")
            continue
        _count(item, fields, report)
        used_tags.update(fields.tag_names())
        report.imported.append(f"{item.label}: /{fields.kind}s/{slug}")
    _remember_terms(export, plan.new)
    report.counts["tags"] = len(used_tags - tags_before)
    report.remote_images = list(store.remote)
    if store.uploads is None and plan.attachments:
        report.skipped.append(
            f"{len(plan.attachments)} attachments: without --uploads their files "
            "stay on the old site; the images posts show are listed as remote"
        )
    session.commit()
    return report


def _first_owner() -> int | None:
    """Return the id of the site's first owner, who gets posts without an author."""
    return session.scalars(
        select(Author.id).where(Author.role == "owner").order_by(Author.id)
    ).first()

"""Exporting posts as Markdown files with front matter, and importing them.

``export`` writes a zip with one ``posts/SLUG.md`` per post and the uploaded
images under ``media/``. ``import`` reads such a zip, or a zip or folder of
Markdown from other blog engines:

- YAML front matter between ``---`` lines (Jekyll, Hugo, Eleventy, this blog);
- TOML front matter between ``+++`` lines (Hugo);
- ``Key: value`` header lines up to the first blank line (Pelican).

Jekyll's ``YYYY-MM-DD-slug.md`` file names give the date and slug when the
front matter does not; ``draft: true``, ``published: false`` and
``status: draft`` all make drafts.

A zip to import may come from anyone, so parsing is bounded: front matter is
split with string methods rather than backtracking regexes, YAML aliases are
refused (a few hundred bytes of them expand to gigabytes), nesting is limited
in YAML and TOML alike, and whatever one file raises is reported on that file's
line while the others go on.
"""

from __future__ import annotations

import re
import tomllib
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import partial
from pathlib import Path, PurePosixPath

import click
import yaml
from flask import current_app
from flask.cli import with_appcontext
from slugify import slugify
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload, selectinload

from ..core import images, posts, variants
from ..core.models import DRAFT, PUBLISHED, Author, Image, Post
from ..core.schema import init_db
from ..db import session

MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd"}
_JEKYLL_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})-(.+)")
_PELICAN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_ -]{0,40}")
#: The line that opens front matter, and the lines that may close it.
_DELIMITERS = {"---": ("---", "..."), "+++": ("+++",)}

#: Front matter nests a level or two (a list of tags, Hugo's params); this
#: leaves room for more while keeping recursive parsers and str() far from
#: Python's recursion limit.
MAX_NESTING = 32

#: Real front matter takes well under a kilobyte. PyYAML, in pure Python,
#: parses some 30 kB a second at worst, so this bounds each file's cost.
MAX_FRONT_MATTER = 32 * 1024

# TOML's strings and comments, which may hold characters that mean nothing
# there, and the characters that nest: brackets (inline arrays and tables)
# and the dots of dotted keys, with what ends a key. Once started, every
# alternative matches (an unclosed string runs to the end of its line, or of
# the text for a multi-line one), so the scanner never backtracks; after the
# first place where it and tomllib could disagree, tomllib stops with an error.
_TOML_TOKENS = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]?|"{1,2}(?!"))*(?:"{3,5}|\Z)'
    r"|'''(?:[^']|'{1,2}(?!'))*(?:'{3,5}|\Z)"
    r'|"(?:[^"\\\n]|\\[^\n]?)*"?'
    r"|'[^'\n]*'?"
    r"|#[^\n]*"
    r"|[\[\]{}.=,\n]"
)


class FrontMatterError(Exception):
    """A file that cannot become a post; the message says why."""


class _FrontMatterLoader(yaml.SafeLoader):
    """Load YAML like ``safe_load``, refusing aliases and deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        """Compose one node, unless it is an alias or nested too deep."""
        # An alias reuses its anchor's node, so a few lines of aliases of
        # aliases make a structure with billions of elements once walked.
        # Real front matter has no use for them.
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not accepted", mark
            )
        # The composer recurses once per level: stop long before Python does.
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"it nests deeper than {MAX_NESTING} levels",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# -- export ----------------------------------------------------------------------


def post_to_markdown(post: Post) -> str:
    """Return a post as Markdown with YAML front matter."""
    meta = {
        "title": post.title,
        "slug": post.slug,
        "date": post.display_date.isoformat(),
        "tags": [tag.name for tag in post.tags],
        "status": post.status,
        "summary": post.summary,
        "author": post.author.username,
    }
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1000)
    return f"---\n{front}---\n\n{post.body}"


def write_export(target: Path) -> tuple[int, int]:
    """Write every post (but those in the trash) and image to the zip ``target``.

    :return: the counts of posts and images written.
    """
    # Not the trash: its posts would come back as they were on import.
    all_posts = session.scalars(
        select(Post)
        .where(Post.deleted_at.is_(None))
        .options(joinedload(Post.author), selectinload(Post.tags))
        .order_by(Post.id)
    ).all()
    names = session.scalars(select(Image.name).order_by(Image.name)).all()
    temporary = target.with_name(f".{target.name}.partial")
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for post in all_posts:
                archive.writestr(f"posts/{post.slug}.md", post_to_markdown(post))
            written = 0
            for name in names:
                # This host's cache, filled from the database if need be.
                if (path := images.cached_file(name)) is not None:
                    archive.write(path, f"media/{name}")
                    written += 1
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return len(all_posts), written


# -- parsing -----------------------------------------------------------------------


@dataclass
class Parsed:
    """A post read from a Markdown file, before validation."""

    title: str = ""
    slug: str = ""
    body: str = ""
    summary: str = ""
    tags: list[str] = field(default_factory=list)
    status: str = PUBLISHED
    date: datetime | None = None
    author: str = ""


def _split_delimited(text: str, opener: str) -> tuple[str, str] | None:
    """Split front matter between ``opener`` lines from the body, if it has some.

    Line by line with string methods, each character looked at a bounded
    number of times: the regular expressions this replaces backtracked.
    """
    first, newline, rest = text.partition("\n")
    if not newline or first.removesuffix("\r").rstrip(" \t") != opener:
        return None
    closers = _DELIMITERS[opener]
    start = position = len(first) + 1
    while True:
        end = text.find("\n", position)
        line = text[position:] if end == -1 else text[position:end]
        if line.removesuffix("\r").rstrip(" \t") in closers:
            return text[start:position], "" if end == -1 else text[end + 1 :]
        if end == -1:
            raise FrontMatterError(f"the front matter after {opener} never ends")
        position = end + 1


def _load_yaml(raw: str):
    """Parse YAML front matter without aliases and at most MAX_NESTING deep."""
    loader = _FrontMatterLoader(raw)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _load_toml(raw: str) -> dict:
    """Parse TOML front matter, refusing nesting that tomllib handles badly.

    tomllib recurses once per level of inline arrays and tables, and builds
    a dotted key ``a.b.c...`` in time and memory quadratic in its length.
    """
    depth = dots = 0
    for token in _TOML_TOKENS.finditer(raw):
        kind = token.group()
        if kind in ("[", "{"):
            depth += 1
        elif kind in ("]", "}"):
            depth = max(depth - 1, 0)
        if kind == ".":
            dots += 1
        elif len(kind) == 1 and kind in "[]{}=,\n":
            # Quoted parts of a key ("a"."b") keep counting: only these end it.
            dots = 0
        if depth > MAX_NESTING or dots >= MAX_NESTING:
            raise FrontMatterError(
                f"the front matter nests deeper than {MAX_NESTING} levels"
            )
    return tomllib.loads(raw)


def _nesting(value) -> int:
    """Return how deep lists and mappings nest in ``value``, without recursing."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            if depth <= MAX_NESTING:
                stack.extend((child, depth + 1) for child in item)
    return deepest


def _front_matter(text: str) -> tuple[dict, str, str]:
    """Split ``text`` into its metadata, the body, and the style found."""
    for opener in _DELIMITERS:
        split = _split_delimited(text, opener)
        if split is None:
            continue
        raw, body = split
        if len(raw) > MAX_FRONT_MATTER:
            raise FrontMatterError(
                f"the front matter is longer than {MAX_FRONT_MATTER:,} characters"
            )
        try:
            meta = _load_yaml(raw) if opener == "---" else _load_toml(raw)
        # Besides their own errors, both parsers pass on ValueError and
        # OverflowError from dates (2019-02-30) and numbers (5,000 digits).
        except (
            yaml.YAMLError,
            tomllib.TOMLDecodeError,
            ValueError,
            OverflowError,
        ) as exc:
            # One line per file in the report: YAML's messages span several.
            reason = " ".join(str(exc).split())
            raise FrontMatterError(f"the front matter is not valid: {reason}") from exc
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise FrontMatterError("the front matter is not a set of fields")
        # TOML's dotted keys and [a.b.c] tables nest without any bracket.
        if _nesting(meta) > MAX_NESTING:
            raise FrontMatterError(
                f"the front matter nests deeper than {MAX_NESTING} levels"
            )
        return meta, body, "yaml" if opener == "---" else "toml"
    return _pelican_headers(text)


def _pelican_headers(text: str) -> tuple[dict, str, str]:
    """Read Pelican's ``Key: value`` lines, if the file starts with them."""
    # Values are collected as lists of parts and joined once: adding to a
    # string line by line copies it each time.
    parts: dict[str, list[str]] = {}
    lines = text.splitlines(keepends=True)
    key = None
    consumed = 0
    for line in lines:
        if not line.strip():
            break
        name, colon, value = line.partition(":")
        if colon and _PELICAN_KEY.fullmatch(name):
            key = name.strip().lower()
            parts[key] = [value.strip()]
        elif key and line[:1] in " \t":
            # An indented line continues the previous value.
            parts[key].append(line.strip())
        else:
            return {}, text, "none"
        consumed += 1
    if "title" not in parts:
        return {}, text, "none"
    meta = {key: " ".join(values) for key, values in parts.items()}
    return meta, "".join(lines[consumed:]), "pelican"


def _heading(body: str) -> tuple[str, str] | None:
    """Return the text of a leading ``# Heading`` line and the body after it."""
    line, _, rest = body.partition("\n")
    if line[:1] != "#" or line[1:2] not in (" ", "\t"):
        return None
    title = line[1:].removesuffix("\r").strip(" \t").rstrip(" \t#")
    return (title, rest) if title else None


def _to_datetime(value) -> datetime | None:
    """Read a date as YAML, TOML or a string gives it; naive means UTC."""
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime.combine(value, time())
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        parsed: datetime | None = None
        for attempt in (
            lambda: datetime.fromisoformat(text),
            lambda: datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z"),
            lambda: datetime.strptime(text, "%Y-%m-%d %H:%M %z"),
        ):
            try:
                parsed = attempt()
                break
            except ValueError:
                continue
        if parsed is None:
            raise FrontMatterError(f"the date {text!r} is not a date")
        result = parsed
    else:
        return None
    if result.tzinfo is None:
        result = result.replace(tzinfo=UTC)
    try:
        return result.astimezone(UTC)
    except OverflowError as exc:
        # 0001-01-01T00:00:00+01:00 is in year 0 in UTC, which has no datetime.
        raise FrontMatterError(f"the date {value} is out of range") from exc


def _to_tags(value, style: str) -> list[str]:
    """Read tags or categories from a list or a string."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(item) for item in value if str(item).strip()]
    text = str(value)
    if "," in text:
        return [part for part in text.split(",") if part.strip()]
    # Jekyll separates tags in a string with spaces; Pelican's one-word
    # category or tag has no separator at all.
    return text.split() if style != "pelican" else [text] if text.strip() else []


def _clean_tag(tag: str) -> str:
    """Make a foreign tag acceptable here: no / ? #, at most 64 characters."""
    return re.sub(r"[/?#]", "-", " ".join(tag.split()))[: posts.MAX_TAG]


def parse(text: str, path: str) -> Parsed:
    """Read one Markdown file, with whatever front matter it has."""
    text = text.removeprefix("\ufeff")
    meta, body, style = _front_matter(text)
    meta = {str(key).strip().lower(): value for key, value in meta.items()}
    parsed = Parsed(body=body.lstrip("\r\n"))
    stem = PurePosixPath(path).stem
    if stem in {"index", "_index"}:
        # A Hugo page bundle: the folder names the post.
        stem = PurePosixPath(path).parent.name or stem
    jekyll = _JEKYLL_NAME.fullmatch(stem)
    file_slug = jekyll.group(4) if jekyll else stem

    parsed.title = str(meta.get("title") or "").strip()
    if not parsed.title:
        heading = _heading(parsed.body)
        if heading:
            parsed.title, rest = heading
            parsed.body = rest.lstrip("\r\n")
        else:
            parsed.title = file_slug.replace("-", " ").replace("_", " ").strip()
    parsed.title = " ".join(parsed.title.split())[: posts.MAX_TITLE]

    raw_slug = str(meta.get("slug") or file_slug)
    parsed.slug = slugify(raw_slug, max_length=posts.MAX_SLUG, word_boundary=True)

    for key in ("date", "pubdate", "publishdate", "created"):
        if meta.get(key):
            parsed.date = _to_datetime(meta[key])
            break
    else:
        if jekyll:
            parsed.date = _to_datetime("-".join(jekyll.groups()[:3]))

    tags = _to_tags(meta.get("tags"), style)
    for key in ("categories", "category"):
        tags += _to_tags(meta.get(key), style)
    parsed.tags = [_clean_tag(tag) for tag in tags if _clean_tag(tag)]

    for key in ("summary", "description", "excerpt"):
        if meta.get(key):
            parsed.summary = str(meta[key]).strip()[: posts.MAX_SUMMARY]
            break

    status = str(meta.get("status", "")).strip().lower()
    if (
        status in {"draft", "hidden"}
        or meta.get("draft") is True
        or str(meta.get("draft", "")).lower() == "true"
        or meta.get("published") is False
        or "_drafts" in PurePosixPath(path).parts
    ):
        parsed.status = DRAFT
    parsed.author = str(meta.get("author") or "").strip()
    return parsed


# -- import ------------------------------------------------------------------------


def _read_file(path: Path, limit: int) -> bytes:
    """Read at most ``limit`` bytes of a file."""
    with path.open("rb") as file:
        return file.read(limit)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """Read at most ``limit`` bytes of a zip member."""
    # A zip's sizes are claims, not facts: read with a limit all the same.
    with archive.open(info) as file:
        return file.read(limit)


Reader = Callable[[int], bytes]


def _members(source: Path) -> Iterator[tuple[str, int, Reader]]:
    """List the files of a zip or a folder: (name, size, read(limit))."""
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file():
                relative = path.relative_to(source).as_posix()
                yield relative, path.stat().st_size, partial(_read_file, path)
        return
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise click.ClickException(f"{source} is neither a zip nor a folder") from exc
    with archive:
        for info in archive.infolist():
            if not info.is_dir():
                yield (
                    info.filename,
                    info.file_size,
                    partial(_read_member, archive, info),
                )


#: What reading a damaged, encrypted or exotic zip member may raise.
_UNREADABLE = (
    zipfile.BadZipFile,
    RuntimeError,
    NotImplementedError,
    OSError,
    zlib.error,
)


@dataclass
class Report:
    """What an import did, one line per file."""

    lines: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("imported", "skipped", "failed", "image"), 0
        )
    )

    def add(self, kind: str, name: str, message: str) -> None:
        """Record what happened to the file ``name``."""
        self.counts[kind] += 1
        self.lines.append(f"{kind:<9} {name}: {message}")


def _free_slug(slug: str) -> str:
    """Return ``slug``, or ``slug-2``, ``slug-3`` ... whichever is free."""
    candidate, number = slug, 2
    while posts.slug_taken(candidate):
        suffix = f"-{number}"
        candidate = slug[: posts.MAX_SLUG - len(suffix)].rstrip("-") + suffix
        number += 1
    return candidate


def import_post(
    parsed: Parsed, author: Author, rename: bool, name: str, report: Report
) -> None:
    """Validate a parsed file and add it as a post, or say why not."""
    slug = parsed.slug or slugify(parsed.title) or "post"
    note = ""
    if posts.slug_taken(slug):
        if not rename:
            report.add("skipped", name, f"a post with the slug {slug!r} exists")
            return
        note = f" (renamed: {slug!r} was taken)"
        slug = _free_slug(slug)
    fields = posts.PostFields(
        title=parsed.title,
        slug=slug,
        body=parsed.body,
        summary=parsed.summary,
        tags=", ".join(parsed.tags),
        status=parsed.status,
    )
    # The admin form's own rules, so a file is refused as the form would be.
    errors = posts.check_post(fields)
    if errors:
        report.add("failed", name, " ".join(errors.values()))
        return
    post = posts.save(Post(author=author), fields, None)
    if parsed.date is not None:
        post.created_at = parsed.date
        if post.status == PUBLISHED:
            post.published_at = parsed.date
    # Flushed now, so that later files see this slug and its new tags.
    session.flush()
    report.add("imported", name, f"/posts/{slug}{note}")


def import_image(name: str, data: bytes, report: Report, written: list) -> None:
    """Add an exported image, checked like an upload, under its own name."""
    file = PurePosixPath(name).name
    if session.scalars(select(Image.id).where(Image.name == file)).first():
        report.add("skipped", name, "this image is already here")
        return
    try:
        cleaned = images.clean(data)
    except images.ImageError as error:
        report.add("failed", name, error.message)
        return
    extension, content_type = images.FORMATS[cleaned.format]
    if not file.endswith("." + extension):
        report.add("failed", name, "its content is not what its name says")
        return
    rows, files = images.write_with_variants(file, cleaned, replace=True)
    folder = images.upload_folder()
    written += [folder / file] + [folder / row.name for row in rows]
    session.add(
        Image(
            name=file,
            original_name=file,
            content_type=content_type,
            size=len(cleaned.data),
            width=cleaned.width,
            height=cleaned.height,
            metadata_stripped=True,
            variants_version=variants.VARIANTS_VERSION,
            variants=rows,
            files=files,
        )
    )
    report.add("image", name, "added")


def run_import(source: Path, author: Author, rename: bool) -> Report:
    """Import every Markdown file and exported image in ``source``; commit once."""
    report = Report()
    body_limit = current_app.config["MAX_BODY_BYTES"] + 64 * 1024
    image_limit = current_app.config["MAX_IMAGE_BYTES"]
    written: list[Path] = []
    try:
        for name, size, read in _members(source):
            path = PurePosixPath(name)
            if any(part.startswith(".") or part == "__MACOSX" for part in path.parts):
                continue
            is_image = path.parent.name == "media" and images.NAME.fullmatch(path.name)
            if not is_image and path.suffix.lower() not in MARKDOWN_SUFFIXES:
                continue
            limit = image_limit if is_image else body_limit
            try:
                data = read(limit + 1)
            except _UNREADABLE as exc:
                report.add("failed", name, f"cannot be read ({exc})")
                continue
            if is_image:
                if len(data) > image_limit:
                    report.add("failed", name, "the image is too large")
                else:
                    import_image(name, data, report, written)
                continue
            if size > body_limit or len(data) > body_limit:
                report.add("failed", name, "the file is too large")
                continue
            if b"\x00" in data:
                # No database column may hold it (PostgreSQL refuses it).
                report.add("failed", name, "the file holds the NUL character")
                continue
            try:
                parsed = parse(data.decode("utf-8"), name)
            except UnicodeDecodeError:
                report.add("failed", name, "the file is not UTF-8 text")
                continue
            except FrontMatterError as error:
                report.add("failed", name, str(error))
                continue
            except Exception as exc:
                # parse() writes nothing, so whatever a file makes it raise
                # costs that file's line and never the rest of the run.
                kind = type(exc).__name__
                report.add("failed", name, f"the file cannot be read ({kind})")
                continue
            import_post(parsed, _author_for(parsed, author), rename, name, report)
        _render_showing_imported_images(written)
        session.commit()
    except BaseException:
        session.rollback()
        for written_path in written:
            written_path.unlink(missing_ok=True)
        raise
    return report


def _render_showing_imported_images(written: list[Path]) -> None:
    """Render again the posts that show an image this import added.

    A post read before its image was rendered without the image's widths.
    """
    names = [path.name for path in written if images.NAME.fullmatch(path.name)]
    if not names:
        return
    session.flush()
    shows = or_(
        *(Post.body.contains(f"/media/{name}", autoescape=True) for name in names)
    )
    for post in session.scalars(select(Post).where(shows)):
        post.body_html, post.summary_html = posts.render_text(post.body, post.summary)


def _author_for(parsed: Parsed, default: Author) -> Author:
    """Return the author named in the file if one exists here, else ``default``."""
    if parsed.author and parsed.author != default.username:
        named = session.scalars(
            select(Author).where(Author.username == parsed.author)
        ).first()
        if named is not None:
            return named
    return default


def _default_author(name: str | None) -> Author:
    """Return the author that imported posts belong to."""
    if name:
        author = session.scalars(select(Author).where(Author.username == name)).first()
        if author is None:
            raise click.BadParameter(f"no author {name!r}", param_hint="--author")
        return author
    authors = session.scalars(select(Author).limit(2)).all()
    if len(authors) != 1:
        raise click.UsageError(
            "name the author the posts belong to with --author"
            if authors
            else "create an author first with add-author"
        )
    return authors[0]


@click.command("export")
@with_appcontext
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def export_command(path: Path, force: bool) -> None:
    """Write every post as Markdown with front matter, and every image, to a zip."""
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; use --force to overwrite it")
    count, image_count = write_export(path)
    click.echo(f"Exported {count} posts and {image_count} images to {path}.")


@click.command("import")
@with_appcontext
@click.argument("path", type=click.Path(path_type=Path, exists=True))
@click.option("--author", "author_name", help="Who the posts belong to.")
@click.option(
    "--rename-duplicates",
    is_flag=True,
    help="Import a post whose slug is taken under a new slug (default: skip it).",
)
def import_command(path: Path, author_name: str | None, rename_duplicates: bool):
    """Import Markdown posts from a zip or folder (this blog, Jekyll, Hugo, Pelican)."""
    init_db()
    report = run_import(path, _default_author(author_name), rename_duplicates)
    for line in report.lines:
        click.echo(line)
    click.echo(
        "Imported {imported} posts and {image} images; "
        "skipped {skipped}, failed {failed}.".format(**report.counts)
    )

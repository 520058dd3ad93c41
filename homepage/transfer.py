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
"""

from __future__ import annotations

import re
import tomllib
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path, PurePosixPath

import click
import yaml
from flask import Flask, current_app
from flask.cli import with_appcontext
from slugify import slugify
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from . import images, posts
from .db import init_db, session
from .models import DRAFT, PUBLISHED, Author, Image, Post

MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd"}
_JEKYLL_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})-(.+)")
_PELICAN_HEADER = re.compile(r"([A-Za-z][A-Za-z0-9_ -]{0,40}):\s*(.*)")
_DELIMITED = {
    "---": re.compile(
        r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M
    ),
    "+++": re.compile(
        r"\A\+\+\+[ \t]*\r?\n(.*?)^\+\+\+[ \t]*(?:\r?\n|\Z)", re.S | re.M
    ),
}


class FrontMatterError(Exception):
    """A file that cannot become a post; the message says why."""


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
    """Write every post and image to the zip ``target``; return the counts."""
    all_posts = session.scalars(
        select(Post)
        .options(joinedload(Post.author), selectinload(Post.tags))
        .order_by(Post.id)
    ).all()
    names = session.scalars(select(Image.name).order_by(Image.name)).all()
    folder = images.upload_folder()
    temporary = target.with_name(f".{target.name}.partial")
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for post in all_posts:
                archive.writestr(f"posts/{post.slug}.md", post_to_markdown(post))
            written = 0
            for name in names:
                if (folder / name).is_file():
                    archive.write(folder / name, f"media/{name}")
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


def _front_matter(text: str) -> tuple[dict, str, str]:
    """Split ``text`` into its metadata, the body, and the style found."""
    for opener, pattern in _DELIMITED.items():
        if text.startswith(opener):
            match = pattern.match(text)
            if match is None:
                raise FrontMatterError(f"the front matter after {opener} never ends")
            raw, body = match.group(1), text[match.end() :]
            try:
                meta = yaml.safe_load(raw) if opener == "---" else tomllib.loads(raw)
            except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
                raise FrontMatterError(f"the front matter is not valid: {exc}") from exc
            if meta is None:
                meta = {}
            if not isinstance(meta, dict):
                raise FrontMatterError("the front matter is not a set of fields")
            return meta, body, "yaml" if opener == "---" else "toml"
    return _pelican_headers(text)


def _pelican_headers(text: str) -> tuple[dict, str, str]:
    """Read Pelican's ``Key: value`` lines, if the file starts with them."""
    meta: dict[str, str] = {}
    lines = text.splitlines(keepends=True)
    key = None
    consumed = 0
    for line in lines:
        if not line.strip():
            break
        match = _PELICAN_HEADER.fullmatch(line.rstrip("\r\n"))
        if match:
            key = match.group(1).strip().lower()
            meta[key] = match.group(2).strip()
        elif key and line[:1] in " \t":
            # An indented line continues the previous value.
            meta[key] += " " + line.strip()
        else:
            return {}, text, "none"
        consumed += 1
    if "title" not in meta:
        return {}, text, "none"
    return meta, "".join(lines[consumed:]), "pelican"


def _to_datetime(value) -> datetime | None:
    """Read a date as YAML, TOML or a string gives it; naive means UTC."""
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime.combine(value, time())
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        result = None
        for attempt in (
            lambda: datetime.fromisoformat(text),
            lambda: datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z"),
            lambda: datetime.strptime(text, "%Y-%m-%d %H:%M %z"),
        ):
            try:
                result = attempt()
                break
            except ValueError:
                continue
        if result is None:
            raise FrontMatterError(f"the date {text!r} is not a date")
    else:
        return None
    if result.tzinfo is None:
        result = result.replace(tzinfo=UTC)
    return result.astimezone(UTC)


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
        heading = re.match(r"#[ \t]+(.+?)[ \t#]*(?:\r?\n|\Z)", parsed.body)
        if heading:
            parsed.title = heading.group(1)
            parsed.body = parsed.body[heading.end() :].lstrip("\r\n")
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
                yield relative, path.stat().st_size, lambda n, p=path: _read_file(p, n)
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
                    lambda n, i=info: _read_member(archive, i, n),
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
    form = posts.PostForm(
        title=parsed.title,
        slug=slug,
        body=parsed.body,
        summary=parsed.summary,
        tags=", ".join(parsed.tags),
        status=parsed.status,
    )
    if not form.validate():
        report.add("failed", name, " ".join(form.errors.values()))
        return
    post = Post(author=author)
    session.add(post)
    posts.apply_form(post, form)
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
    path = images.upload_folder() / file
    images.write_file(path, cleaned.data, replace=True)
    written.append(path)
    session.add(
        Image(
            name=file,
            original_name=file,
            content_type=content_type,
            size=len(cleaned.data),
            width=cleaned.width,
            height=cleaned.height,
            metadata_stripped=True,
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
            try:
                parsed = parse(data.decode("utf-8"), name)
            except UnicodeDecodeError:
                report.add("failed", name, "the file is not UTF-8 text")
                continue
            except FrontMatterError as error:
                report.add("failed", name, str(error))
                continue
            import_post(parsed, _author_for(parsed, author), rename, name, report)
        session.commit()
    except BaseException:
        session.rollback()
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return report


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


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(export_command)
    app.cli.add_command(import_command)

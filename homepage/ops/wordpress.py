"""``import-wordpress``: moving a WordPress site's export into the blog."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ..core import wordpress
from ..core.schema import init_db


def read_bounded(path: Path) -> bytes:
    """Read the export at ``path``, refusing one larger than WXR_MAX_BYTES."""
    limit = current_app.config["WXR_MAX_BYTES"]
    with path.open("rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise click.ClickException(
            f"{path} is not imported: the file is larger than {limit:,} bytes. "
            "Nothing was changed."
        )
    return data


@click.command("import-wordpress")
@with_appcontext
@click.argument("export", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--uploads",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="A copy of the site's wp-content/uploads folder, whose images are "
    "imported (without it, posts keep showing them from the old site).",
)
def import_wordpress_command(export: Path, uploads: Path | None) -> None:
    """Import the posts, pages, authors, tags and images of a WordPress export."""
    init_db()
    data = read_bounded(export)
    try:
        report = wordpress.run_import(data, uploads)
    except wordpress.WXRError as error:
        raise click.ClickException(
            f"{export} is not imported: {error}. Nothing was changed."
        ) from None
    for line in report.lines():
        click.echo(line)

"""The WordPress import page: the owner uploads an export, and reads the report.

Only the owner may import: an import creates authors and posts in their
names, which only the owner may do otherwise.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from ..core import wordpress
from .account import require_owner
from .forms import WordPressImportForm

bp = Blueprint("wordpress", __name__)


def _render(
    form: WordPressImportForm, report: wordpress.Report | None = None, status=200
):
    """Render the import form, its error, and the report of an import."""
    return render_template("admin/wordpress.html", form=form, report=report), status


@bp.get("/import/wordpress")
def index():
    """Show the form that imports a WordPress export."""
    require_owner()
    return _render(WordPressImportForm(blank=True))


@bp.post("/import/wordpress")
def upload():
    """Import an uploaded WordPress export and show its report.

    The report is shown at once, not after a redirect: it is the outcome of
    this one import and is kept nowhere else. Importing again is harmless, as
    what was imported is skipped.
    """
    owner = require_owner()
    form = WordPressImportForm()
    if not form.validate():
        return _render(form, status=400)
    limit = current_app.config["WXR_MAX_BYTES"]
    data = form.export.data.stream.read(limit + 1)
    if len(data) > limit:
        form.refuse("export", f"The file is too large: keep it under {limit:,} bytes.")
        return _render(form, status=413)
    try:
        report = wordpress.run_import(data, None, owner)
    except wordpress.WXRError as error:
        message = f"This file is not imported: {error}. Nothing was changed."
        form.refuse("export", message)
        return _render(form, status=400)
    return _render(WordPressImportForm(blank=True), report)

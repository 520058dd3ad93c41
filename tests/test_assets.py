"""Static URLs carry a hash of the file, so a changed file gets a new URL."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from flask import url_for

from homepage.db import PROJECT_ROOT

STYLESHEET = re.compile(r'href="(/static/style\.css\?v=([0-9a-f]{12}))"')


def test_pages_link_the_stylesheet_with_its_content_hash(client):
    page = client.get("/").get_data(as_text=True)

    match = STYLESHEET.search(page)
    assert match, page
    content = (PROJECT_ROOT / "static" / "style.css").read_bytes()
    assert match.group(2) == hashlib.sha256(content).hexdigest()[:12]
    with client.get(match.group(1)) as response:
        assert response.status_code == 200
        assert response.data == content


def test_an_edited_file_gets_a_new_url(app, tmp_path: Path):
    static = tmp_path / "static"
    shutil.copytree(PROJECT_ROOT / "static", static)
    app.static_folder = str(static)
    # Pages are rendered once per deployment and then reused (the page
    # cache), so ask url_for directly, as each new rendering would.
    with app.test_request_context():
        before = url_for("static", filename="style.css")

    with (static / "style.css").open("a") as file:
        file.write("\n/* a new rule */\n")

    with app.test_request_context():
        after = url_for("static", filename="style.css")
    assert before.startswith("/static/style.css?v=")
    assert after.startswith("/static/style.css?v=")
    assert after != before


def test_a_missing_file_gets_a_plain_url(app):
    with app.test_request_context():
        assert url_for("static", filename="nothing.css") == "/static/nothing.css"

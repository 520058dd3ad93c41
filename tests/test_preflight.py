"""Preflight: the list an author sees before publishing, and doctor --content.

The checks are plain functions on rendered HTML; the editor shows them after
Preview and Save, and the live preview returns them as JSON.
"""

from __future__ import annotations

import pytest

from homepage.core import preflight
from homepage.core.posts import render_text
from homepage.core.preflight import ERROR, MISSING, NOT_OUT, VISIBLE, WARNING

from .support import csrf_from


def messages(html: str, **options) -> list[tuple[str, str]]:
    """Return (severity, message) of each finding on ``html``, with a summary."""
    options.setdefault("summary", "A summary.")
    return [
        (finding.severity, finding.message)
        for finding in preflight.check_html(html, **options)
    ]


def rendered(markdown: str) -> str:
    return render_text(markdown, "")[0]


def test_a_clean_post_has_nothing_to_say(app):
    with app.app_context():
        html = rendered("## Start\n\nA [useful guide](https://example.org/guide).")
    assert messages(html, lookup=lambda kind, slug: VISIBLE) == []


def test_an_image_without_a_description_is_an_error(app):
    with app.app_context():
        html = rendered("![](/media/abc.png) and ![A loaf](/media/loaf.png)")
    found = messages(html)
    assert found == [
        (
            ERROR,
            "The image /media/abc.png has no description (alt text) for people "
            "who cannot see it.",
        )
    ]


def test_an_image_marked_decorative_needs_no_description(app):
    with app.app_context():
        html = rendered("![](/media/rule.png)")
    assert messages(html, is_decorative=lambda src: src == "/media/rule.png") == []
    # By default no image is decorative.
    assert messages(html)[0][0] == ERROR


def test_a_skipped_heading_level_is_reported():
    html = "<h2>One</h2><p>x</p><h4>Three</h4><h3>Back</h3><h2>Two</h2>"
    assert messages(html) == [
        (
            WARNING,
            "The heading “Three” skips a level: it is level 3 right after level 1.",
        )
    ]


def test_a_body_starting_below_the_top_skips_a_level():
    assert messages("<h3>Deep</h3>")[0][1].startswith("The heading “Deep” skips")


@pytest.mark.parametrize("text", ["click here", "Here", "link", "here."])
def test_vague_link_texts_are_reported(text):
    found = messages(f'<p>See <a href="https://example.org">{text}</a></p>')
    assert found == [
        (
            WARNING,
            f"The link text “{text}” does not say where the link goes; use "
            "words that describe it.",
        )
    ]


def test_links_to_drafts_and_missing_posts_are_errors():
    states = {("post", "draft-one"): NOT_OUT, ("page", "about"): VISIBLE}

    found = messages(
        '<p><a href="/posts/draft-one">a</a> <a href="/posts/gone">b</a> '
        '<a href="/pages/about">c</a> <a href="https://blog.example/posts/gone">d</a> '
        '<a href="https://elsewhere.example/posts/gone">e</a></p>',
        lookup=lambda kind, slug: states.get((kind, slug), MISSING),
        origins=["https://blog.example"],
    )

    assert found == [
        (
            ERROR,
            "The link /posts/draft-one leads to a post readers cannot see yet "
            "(a draft or scheduled).",
        ),
        (ERROR, "The link /posts/gone leads to no post of this site."),
        (
            ERROR,
            "The link https://blog.example/posts/gone leads to no post of this site.",
        ),
    ]


def test_broken_anchors_are_errors_and_good_ones_are_not():
    found = messages(
        '<h2 id="setup">Setup</h2><p><a href="#setup">the setup</a> '
        '<a href="#missing">the missing part</a> <a href="#content">the top</a></p>'
    )
    assert found == [(ERROR, "The link #missing leads to no place in the post.")]


def test_a_missing_summary_is_advice():
    found = messages("<p>Text.</p>", summary="  ")
    assert found == [
        (
            WARNING,
            "No summary: lists of posts and link previews show the first "
            "paragraph instead.",
        )
    ]


def test_a_post_without_any_image_is_advised_to_name_a_share_image(app):
    advice = (
        WARNING,
        "No share image: link previews of this post show no picture. "
        "Name one under Share image, or show a library image in the post.",
    )

    def found(body_html: str, share_image: str | None) -> list[tuple[str, str]]:
        with app.test_request_context():
            return [
                (finding.severity, finding.message)
                for finding in preflight.check_for_site(body_html, "Sum.", share_image)
            ]

    assert found("<p>Text.</p>", "") == [advice]
    assert found("<p>Text.</p>", "0123456789abcdef0123456789abcdef.jpg") == []
    assert found("<p>Text.</p>", None) == []  # not known: the live preview
    shown = '<p><img src="/media/0123456789abcdef0123456789abcdef.jpg" alt="A">'
    assert found(shown, "") == []


def test_a_very_long_paragraph_is_advice():
    words = " ".join(f"word{n}" for n in range(300))
    found = messages(f"<p>{words}</p><p>Short.</p>")
    assert len(found) == 1
    assert found[0][0] == WARNING
    assert "has 300 words" in found[0][1]


def test_the_site_lookup_knows_drafts_redirects_and_missing_posts(app, client, auth):
    auth.login()
    auth.create_post("Out now")
    auth.create_post("Still a draft", status="draft", action="draft")
    response = auth.post_form(
        "/admin/posts/1/edit",
        title="Out now",
        slug="renamed",
        body="x",
        action="publish",
    )
    assert response.status_code == 302

    with app.app_context():
        assert preflight.site_lookup("post", "renamed") == VISIBLE
        assert preflight.site_lookup("post", "out-now") == VISIBLE
        assert preflight.site_lookup("post", "still-a-draft") == NOT_OUT
        assert preflight.site_lookup("post", "never-was") == MISSING


# -- in the editor ------------------------------------------------------------------


BODY_WITH_PROBLEMS = "![](/media/abc.png)\n\n[here](/posts/nowhere)"


def test_preview_shows_the_preflight_list(client, auth):
    auth.login()
    response = auth.post_form(
        "/admin/posts/new",
        title="T",
        body=BODY_WITH_PROBLEMS,
        status="draft",
        action="preview",
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Before you publish" in page
    assert "has no description (alt text)" in page
    assert "The link /posts/nowhere leads to no post of this site." in page
    # Nothing was fixed: the body is as typed.
    assert "![](/media/abc.png)" in page


def test_the_saved_post_shows_its_list_and_publishing_stays_possible(client, auth):
    auth.login()
    response = auth.create_post("Flawed", body=BODY_WITH_PROBLEMS, action="publish")
    assert response.status_code == 302

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Published" in page
    assert "has no description (alt text)" in page
    assert client.get("/posts/flawed").status_code == 200


def test_the_live_preview_renders_and_checks(client, auth):
    auth.login()
    token = csrf_from(client.get("/admin/posts/new").get_data(as_text=True))

    response = client.post(
        "/admin/posts/new/preview",
        data={"csrf_token": token, "body": "# Big\n\n" + BODY_WITH_PROBLEMS},
    )

    assert response.status_code == 200
    data = response.get_json()
    # Under the preview's own headings, as the form's Preview shows it.
    assert data["html"].startswith('<div class="heading"><h4 id="h-big">Big</h4>')
    severities = [finding["severity"] for finding in data["findings"]]
    assert severities.count(ERROR) == 2


def test_the_live_preview_needs_the_csrf_token(client, auth):
    auth.login()
    assert (
        client.post("/admin/posts/new/preview", data={"body": "x"}).status_code == 400
    )


def test_the_live_preview_is_bounded(client, auth):
    auth.login()
    token = csrf_from(client.get("/admin/posts/new").get_data(as_text=True))

    response = client.post(
        "/admin/posts/new/preview", data={"csrf_token": token, "body": "x" * 1_000_001}
    )

    assert response.status_code == 413
    assert "too long" in response.get_json()["error"]


def test_the_live_preview_follows_the_post_permissions(client, auth, bob):
    auth.login()
    auth.create_post("Alice's", status="draft", action="draft")
    auth.login_as(bob)
    token = csrf_from(client.get("/admin/posts/new").get_data(as_text=True))

    response = client.post(
        "/admin/posts/1/preview", data={"csrf_token": token, "body": "x"}
    )

    assert response.status_code == 403


# -- doctor --content ---------------------------------------------------------------


def test_doctor_content_lists_every_post_and_fails_on_problems(app, client, auth):
    auth.login()
    auth.create_post("Clean", body="Fine text.", summary="A summary.")
    auth.create_post("Flawed", status="draft", action="draft", body=BODY_WITH_PROBLEMS)

    result = app.test_cli_runner().invoke(args=["doctor", "--content"])

    assert result.exit_code == 1, result.output
    assert "FAIL  post flawed (draft): The image /media/abc.png has no description" in (
        result.output
    )
    assert "FAIL  post clean" not in result.output
    # Advice: no share image for either, no summary for the flawed one, and
    # its long paragraph.
    assert result.output.rstrip().endswith("Checked 2 posts: 2 problems, 4 advice.")


def test_doctor_content_passes_with_advice_alone(app, client, auth):
    auth.login()
    auth.create_post("No summary", body="Fine text.")

    result = app.test_cli_runner().invoke(args=["doctor", "--content"])

    assert result.exit_code == 0, result.output
    assert "WARN  post no-summary (published): No summary" in result.output

"""Responsive images: the widths and formats made of an upload, the pictures a
post shows, their alt text, share images, feeds, deleting and the upgrade."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image as PILImage
from PIL import features
from sqlalchemy import select

from homepage.core import images, variants
from homepage.core.models import Image, ImageVariant, Post
from homepage.db import get_engine, session

from .image_files import TRACES, photo, png_with_text, webp_with_metadata
from .support import AuthActions

# Every test encodes photos in several widths and formats.
pytestmark = pytest.mark.slow

AVIF = features.check_module("avif")
#: A post's images, as the browser chooses among them (core.pictures.SIZES).
SIZES = "(min-width: 42rem) 40rem, calc(100vw - 2rem)"


def upload(auth, data: bytes, filename: str = "photo.jpg", **fields) -> Image:
    """Upload ``data`` from the images page and return its row, variants loaded."""
    response = auth.post_form(
        "/admin/images/", image=(io.BytesIO(data), filename), **fields
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    app = auth._client.application
    with app.app_context():
        image = session.scalars(select(Image).order_by(Image.id.desc())).first()
        assert image is not None
        image.variants  # noqa: B018 - loaded while the session is open
        session.expunge(image)
        return image


def variant_table(image: Image) -> list[tuple[str, int, int]]:
    """Return (content type, width, height) of each variant, sorted."""
    return sorted((v.content_type, v.width, v.height) for v in image.variants)


def pixels(data: bytes) -> PILImage.Image:
    """Decode ``data`` whole."""
    picture = PILImage.open(io.BytesIO(data))
    picture.load()
    return picture


@pytest.fixture
def author(auth):
    auth.login()
    return auth


def test_widths_are_made_smaller_never_larger_in_each_format(app, author):
    image = upload(author, photo((1000, 750)), alt="A wide photo")
    light = ["image/webp"] + (["image/avif"] if AVIF else [])
    expected = sorted(
        [("image/jpeg", 480, 360), ("image/jpeg", 960, 720)]
        + [(kind, width, height) for kind in light
           for width, height in ((480, 360), (960, 720), (1000, 750))]
    )  # fmt: skip
    assert variant_table(image) == expected
    # A photo narrower than every width: only its lighter formats, at its size.
    small = upload(author, photo((300, 200)))
    assert variant_table(small) == sorted((kind, 300, 200) for kind in light)
    folder = Path(app.config["UPLOAD_FOLDER"])
    for variant in image.variants:
        data = (folder / variant.name).read_bytes()
        decoded = pixels(data)
        assert decoded.size == (variant.width, variant.height)
        assert variant.size == len(data)
        assert decoded.get_format_mimetype() == variant.content_type
        # Named by the image, the width and the content's own hash.
        assert re.fullmatch(
            rf"{image.name[:32]}-{variant.width}-[0-9a-f]{{16}}\.(jpg|webp|avif)",
            variant.name,
        )


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (photo((1200, 900), orientation=6), "phone.jpg"),
        (png_with_text((1000, 600)), "chart.png"),
        (webp_with_metadata(), "shot.webp"),
    ],
    ids=["jpeg", "png", "webp"],
)
def test_no_served_file_carries_metadata(app, client, author, data, filename):
    image = upload(author, data, filename)
    assert image.variants
    for name in images.file_names(image):
        with client.get(f"/media/{name}") as served:
            assert served.status_code == 200
            assert [trace for trace in TRACES if trace in served.data] == []
            decoded = pixels(served.data)
            assert dict(decoded.getexif()) == {}
            assert "xmp" not in decoded.info and "exif" not in decoded.info
    if filename == "phone.jpg":
        # Turned upright before resizing: a portrait photo gives portrait widths.
        assert (image.width, image.height) == (900, 1200)
        assert ("image/jpeg", 480, 640) in variant_table(image)


def test_variants_are_served_immutable_for_a_year(client, author):
    image = upload(author, photo((700, 500)))
    for variant in image.variants:
        with client.get(f"/media/{variant.name}") as served:
            assert served.status_code == 200
            assert served.headers["Content-Type"] == variant.content_type
            assert "immutable" in served.headers["Cache-Control"]
            assert "max-age=31536000" in served.headers["Cache-Control"]
    assert client.get(f"/media/{image.name[:32]}-480-{'0' * 16}.jpg").status_code == 404


def test_an_animation_keeps_its_original_only_and_moves(app, client, author):
    frames = [PILImage.new("RGB", (800, 600), (80 * i, 0, 0)) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], loop=0)
    image = upload(author, buffer.getvalue(), "moving.gif")
    assert image.variants == []
    author.create_post("Moving", body=f"![It moves](/media/{image.name})")
    page = client.get("/posts/moving").get_data(as_text=True)
    # No <picture>: the animated original, with its size.
    assert (
        f'<img src="/media/{image.name}" alt="It moves" width="800" height="600" '
        'decoding="async" loading="eager">'
    ) in page
    with client.get(f"/media/{image.name}") as served:
        assert PILImage.open(io.BytesIO(served.data)).n_frames == 3


def test_a_transparent_png_stays_transparent_in_every_variant(app, author):
    picture = PILImage.new("RGBA", (1000, 500), (0, 0, 0, 0))
    picture.paste((20, 200, 20, 255), (500, 0, 1000, 500))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    image = upload(author, buffer.getvalue(), "logo.png")
    folder = Path(app.config["UPLOAD_FOLDER"])
    kinds = {variant.content_type for variant in image.variants}
    assert {"image/png", "image/webp"} <= kinds
    for variant in image.variants:
        decoded = pixels((folder / variant.name).read_bytes()).convert("RGBA")
        assert decoded.getpixel((0, 0))[3] == 0, variant.name
        assert decoded.getpixel((decoded.width - 1, 0))[3] == 255, variant.name


def test_a_post_shows_library_images_as_responsive_pictures(app, client, author):
    first = upload(author, photo((2000, 1500)), alt="The harbour")
    second = upload(author, photo((1000, 800)), alt="The boats")
    author.create_post(
        "Harbour",
        body=f"![The harbour](/media/{first.name})\n\nText.\n\n"
        f'![The boats](/media/{second.name} "At noon")\n\n'
        "![elsewhere](https://example.org/x.jpg)",
    )
    page = client.get("/posts/harbour").get_data(as_text=True)
    stem = first.name[:32]
    jpegs = sorted(
        (v for v in first.variants if v.content_type == "image/jpeg"),
        key=lambda v: v.width,
    )
    srcset = ", ".join(f"/media/{v.name} {v.width}w" for v in jpegs)
    # The first image is what a reader sees first: loaded at once.
    assert (
        f'<img src="/media/{first.name}" alt="The harbour" '
        f'srcset="{srcset}, /media/{first.name} 2000w" sizes="{SIZES}" '
        'width="2000" height="1500" decoding="async" loading="eager">'
    ) in page
    webps = [v for v in first.variants if v.content_type == "image/webp"]
    # No lighter copy of an original wider than 1600 px: 1600 covers the column.
    assert [v.width for v in webps] == [480, 960, 1600]
    webp_srcset = ", ".join(f"/media/{v.name} {v.width}w" for v in webps)
    assert f'<source type="image/webp" srcset="{webp_srcset}" sizes="{SIZES}">' in page
    if AVIF:
        assert page.index('type="image/avif"') < page.index('type="image/webp"')
    assert page.count("<picture>") == 2
    # The next ones wait until they are near the screen.
    assert re.search(
        rf'<img src="/media/{second.name}" alt="The boats" title="At noon" '
        r'srcset="[^"]+" sizes="[^"]+" width="1000" height="800" '
        r'decoding="async" loading="lazy">',
        page,
    )
    # An image from elsewhere is left as the author wrote it.
    assert '<img src="https://example.org/x.jpg" alt="elsewhere">' in page
    assert stem in page
    # Rendered when saved, not for each reader.
    with app.app_context():
        stored = session.scalars(select(Post.body_html)).one()
    assert "<picture><source" in stored and 'loading="eager"' in stored


def test_the_sanitizer_still_refuses_these_attributes_from_the_author(client, author):
    image = upload(author, photo((1000, 750)))
    author.create_post(
        "Raw",
        body='<img src="https://example.org/a.jpg" alt="a" sizes="1px" '
        'srcset="https://evil.example/b.jpg 1w" loading="eager" decoding="sync" '
        'fetchpriority="high">\n\n'
        '<picture><source srcset="https://evil.example/c.jpg">'
        f'<img src="/media/{image.name}" '
        'alt="mine" srcset="https://evil.example/d.jpg 9w"></picture>',
    )
    page = client.get("/posts/raw").get_data(as_text=True)
    assert "evil.example" not in page
    assert '<img src="https://example.org/a.jpg" alt="a">' in page
    # The library's own image is rewritten from its row alone.
    assert (
        f'<img src="/media/{image.name}" alt="mine" srcset="/media/{image.name[:32]}'
        in page
    )


def test_a_summary_in_a_list_shows_lazy_pictures(client, author):
    image = upload(author, photo((1000, 750)), alt="Sea")
    author.create_post("Sea", body=f"![Sea](/media/{image.name}) and waves.")
    listing = client.get("/").get_data(as_text=True)
    assert f'<img src="/media/{image.name}" alt="Sea" srcset=' in listing
    assert 'loading="lazy"' in listing and 'loading="eager"' not in listing


def test_alt_text_and_decoration_are_asked_at_upload_and_stored(app, client, author):
    described = upload(author, photo((600, 400)), alt="  A red   door ")
    plain = upload(author, photo((600, 400)), "divider.jpg", decorative="y")
    assert (described.alt, described.decorative) == ("A red door", False)
    assert (plain.alt, plain.decorative) == ("", True)
    page = client.get("/admin/images/").get_data(as_text=True)
    assert f'value="![A red door](/media/{described.name})"' in page
    assert "Decorative (no description needed)" in page
    form = client.get("/admin/posts/new").get_data(as_text=True)
    assert 'name="image_decorative"' in form and 'name="image_alt"' in form
    # From the post form too.
    response = author.post_form(
        "/admin/posts/new/image",
        title="T",
        body="B",
        image=(io.BytesIO(photo((300, 200))), "x.jpg"),
        image_alt="",
        image_decorative="y",
    )
    assert response.status_code == 200
    with app.app_context():
        newest = session.scalars(select(Image).order_by(Image.id.desc())).first()
        assert newest.decorative and newest.alt == ""


def test_the_editor_flags_images_without_alt_text(app, client, author):
    needs = upload(author, photo((600, 400)))
    ornament = upload(author, photo((600, 400)), decorative="y")
    body = (
        f"![](/media/{needs.name})\n\n![](/media/{ornament.name})\n\n"
        "![](https://example.org/far.jpg)\n\n![Fine](/media/{needs.name})"
    )
    preview = author.post_form(
        "/admin/posts/new", title="Pics", body=body, action="preview", status="draft"
    )
    html = preview.get_data(as_text=True)
    preflight = re.search(r'<section class="preflight".*?</section>', html, re.S)
    assert preflight is not None
    assert f"The image /media/{needs.name} has no description" in preflight[0]
    assert "The image https://example.org/far.jpg has no description" in preflight[0]
    assert ornament.name not in preflight[0]
    # After a save too, every time the post is opened.
    saved = author.create_post("Pics", body=body, status="draft", action="draft")
    edit = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert f"The image /media/{needs.name} has no description" in edit
    # Described, the message goes.
    author.post_form(
        "/admin/posts/1/edit",
        title="Pics",
        body=f"![Hall](/media/{needs.name})\n\n![](/media/{ornament.name})",
        action="draft",
    )
    assert "has no description" not in client.get("/admin/posts/1/edit").get_data(
        as_text=True
    )
    with app.app_context():
        assert images.decorative_sources(
            [f"/media/{ornament.name}", f"/media/{needs.name}", "/elsewhere.png"]
        ) == {f"/media/{ornament.name}"}


def test_posts_carry_their_share_image_absolute_with_its_size(make_app):
    app = make_app(SITE_URL="https://blog.example.org")
    client = app.test_client()
    author = AuthActions(client)
    author.login()
    first = upload(author, photo((2400, 1800)), alt="First light")
    chosen = upload(author, photo((800, 600)), alt="The chosen one")
    body = f"![First light](/media/{first.name})\n\n![x](/media/{chosen.name})"
    author.create_post("Dawn", body=body)
    # A Host header of someone else's does not reach the addresses.
    page = client.get("/posts/dawn", headers={"Host": "localhost"}).get_data(
        as_text=True
    )
    [share] = [
        v for v in first.variants if v.content_type == "image/jpeg" and v.width == 1600
    ]
    assert (
        f'<meta property="og:image" content="https://blog.example.org/media/{share.name}">'
        in page
    )
    assert '<meta property="og:image:width" content="1600">' in page
    assert '<meta property="og:image:height" content="1200">' in page
    assert '<meta property="og:image:alt" content="First light">' in page
    assert '<meta name="twitter:card" content="summary_large_image">' in page
    # The author names another one.
    edited = author.post_form(
        "/admin/posts/1/edit",
        title="Dawn",
        body=body,
        share_image=f"/media/{chosen.name}",
        status="published",
        action="save",
    )
    assert edited.status_code == 302
    page = client.get("/posts/dawn").get_data(as_text=True)
    assert f'content="https://blog.example.org/media/{chosen.name}"' in page
    assert '<meta property="og:image:width" content="800">' in page
    assert f'value="/media/{chosen.name}"' in client.get(
        "/admin/posts/1/edit"
    ).get_data(as_text=True)
    # Not an image of the library: refused, with a message, nothing saved.
    refused = author.post_form(
        "/admin/posts/1/edit",
        title="Dawn",
        body=body,
        share_image="/media/nope.jpg",
        status="published",
        action="save",
    )
    assert refused.status_code == 400
    assert "Give the address of an image of the library" in refused.get_data(
        as_text=True
    )
    # A post without images keeps the small card.
    author.create_post("Words", body="Only words.")
    words = client.get("/posts/words").get_data(as_text=True)
    assert "og:image" not in words
    assert '<meta name="twitter:card" content="summary">' in words


def test_the_feed_carries_images_with_absolute_addresses(make_app):
    app = make_app(SITE_URL="https://blog.example.org")
    client = app.test_client()
    author = AuthActions(client)
    author.login()
    image = upload(author, photo((1000, 750)), alt="Sea")
    author.create_post("Sea", body=f"![Sea](/media/{image.name})\n\nWaves.")
    feed = client.get("/feed.atom", headers={"Host": "localhost"}).get_data(
        as_text=True
    )
    assert f"src=&#34;https://blog.example.org/media/{image.name}&#34;" in feed or (
        f"src=&quot;https://blog.example.org/media/{image.name}&quot;" in feed
    )
    for variant in image.variants:
        assert f"https://blog.example.org/media/{variant.name} {variant.width}w" in feed
    assert re.search(r"(src|srcset)=(&#34;|&quot;)/media/", feed) is None
    assert ", /media/" not in feed


def test_an_image_a_post_in_the_trash_shows_cannot_be_deleted(app, client, author):
    image = upload(author, photo((600, 400)))
    author.create_post("Gone soon", body=f"![a](/media/{image.name})")
    author.post_form("/admin/posts/1/delete")
    refused = author.post_form(f"/admin/images/{image.id}/delete")
    # Restoring the post would show a missing image otherwise.
    assert refused.status_code == 400
    assert "is still shown in “Gone soon”" in refused.get_data(as_text=True)
    folder = Path(app.config["UPLOAD_FOLDER"])
    assert all((folder / name).exists() for name in images.file_names(image))
    # Purged for good, the image can go, and its variants with it.
    author.post_form("/admin/posts/1/purge")
    assert author.post_form(f"/admin/images/{image.id}/delete").status_code == 302
    assert list(folder.iterdir()) == []


def _as_before_variants(app: Flask) -> None:
    """Make the database look as one from before variants: none made."""
    folder = Path(app.config["UPLOAD_FOLDER"])
    with get_engine(app).begin() as connection:
        for (name,) in connection.execute(select(ImageVariant.name)):
            (folder / name).unlink()
        connection.exec_driver_sql("DROP TABLE image_variants")
        for column in ("alt", "decorative", "variants_version"):
            connection.exec_driver_sql(f"ALTER TABLE images DROP COLUMN {column}")
        connection.exec_driver_sql("ALTER TABLE posts DROP COLUMN share_image")
        # A database from before homepage used Alembic has no version table.
        connection.exec_driver_sql("DROP TABLE alembic_version")
        connection.exec_driver_sql(
            "UPDATE posts SET body_html = '<p>old</p>', summary_html = '<p>old</p>'"
        )


@pytest.mark.sqlite  # a database from before Alembic is a SQLite file
def test_the_upgrade_makes_the_variants_of_stored_images_and_renders_posts(
    app, client, runner, author
):
    image = upload(author, photo((1000, 750)), alt="Sea")
    author.create_post("Sea", body=f"![Sea](/media/{image.name})")
    author.create_post("Plain", body="No image.")
    _as_before_variants(app)
    folder = Path(app.config["UPLOAD_FOLDER"])
    assert [path.name for path in folder.iterdir()] == [image.name]

    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        names = session.scalars(select(ImageVariant.name)).all()
        stored = session.scalars(select(Post).order_by(Post.id)).all()
        upgraded = session.get(Image, image.id)
        assert upgraded is not None
        assert upgraded.variants_version == variants.VARIANTS_VERSION
        assert "<picture>" in stored[0].body_html
        # A post that shows no image is not touched.
        assert stored[1].body_html == "<p>old</p>"
    assert len(names) == len(image.variants)
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [image.name, *names]
    )
    page = client.get("/posts/sea").get_data(as_text=True)
    assert all(f"/media/{name} " in page for name in names)
    # Done once: the next init-db leaves the files alone.
    changed = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert {path.name: path.stat().st_mtime_ns for path in folder.iterdir()} == changed


def test_process_images_makes_the_variants_again_on_demand(app, runner, author):
    image = upload(author, photo((1000, 750)))
    with get_engine(app).begin() as connection:
        connection.exec_driver_sql("UPDATE images SET variants_version = 0")
    result = runner.invoke(args=["process-images"])
    assert result.exit_code == 0, result.output
    assert "Processed 1 image." in result.output
    with app.app_context():
        assert session.scalars(select(Image.variants_version)).one() == 1
    assert "Processed 0 images." in runner.invoke(args=["process-images"]).output
    result = runner.invoke(args=["process-images", "--all"])
    assert "Processed 1 image." in result.output
    folder = Path(app.config["UPLOAD_FOLDER"])
    # Same bytes, same names: nothing left over.
    assert len(list(folder.iterdir())) == 1 + len(image.variants)


def test_decoration_and_description_change_in_the_library(app, client, auth, bob):
    auth.login()
    image = upload(auth, photo((600, 400)))
    auth.create_post("Divider", body=f"![](/media/{image.name})", action="draft")
    assert "has no description" in client.get("/admin/posts/1/edit").get_data(
        as_text=True
    )
    saved = auth.post_form(
        f"/admin/images/{image.id}/describe", alt=" A  line ", decorative="y"
    )
    assert saved.status_code == 302
    assert "Saved the description" in client.get("/admin/images/").get_data(
        as_text=True
    )
    with app.app_context():
        row = session.get(Image, image.id)
        assert row is not None and (row.alt, row.decorative) == ("A line", True)
    # Decorative now: the editor no longer asks for alt text.
    assert "has no description" not in client.get("/admin/posts/1/edit").get_data(
        as_text=True
    )
    # Another author may not change it.
    auth.login_as(bob)
    assert (
        auth.post_form(f"/admin/images/{image.id}/describe", alt="x").status_code == 403
    )
    with app.app_context():
        row = session.get(Image, image.id)
        assert row is not None and row.alt == "A line"


def test_odd_shapes_and_webp_originals_get_the_variants_they_can(author):
    # Taller than WebP allows (16,383 px): that format is left out, not the upload.
    buffer = io.BytesIO()
    PILImage.new("RGB", (500, 20000), (10, 20, 30)).save(buffer, "PNG")
    tall = upload(author, buffer.getvalue(), "scroll.png")
    kinds = {variant.content_type for variant in tall.variants}
    assert "image/webp" not in kinds and "image/png" in kinds
    # A WebP is not copied again as WebP at its own width.
    buffer = io.BytesIO()
    PILImage.new("RGBA", (600, 400), (1, 2, 3, 4)).save(buffer, "WEBP")
    webp = upload(author, buffer.getvalue(), "shot.webp")
    assert ("image/webp", 600, 400) not in variant_table(webp)
    assert ("image/webp", 480, 320) in variant_table(webp)


def test_an_image_narrower_than_the_column_is_sized_at_its_own_width(client, author):
    image = upload(author, photo((320, 200)), alt="Small")
    author.create_post("Small", body=f"![Small](/media/{image.name})")
    page = client.get("/posts/small").get_data(as_text=True)
    # Drawn 320 px wide wherever the screen allows: no file for the column.
    own = 'sizes="(min-width: 352px) 320px, calc(100vw - 2rem)"'
    assert page.count(own) == (2 if AVIF else 1)
    assert SIZES not in page

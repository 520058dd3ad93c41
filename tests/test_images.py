"""Image uploads: only real images are stored, served safely, and deletable."""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import zlib
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from PIL import ImageCms, JpegImagePlugin
from sqlalchemy import func, select

from homepage.core.models import Image, Post
from homepage.db import get_engine, session

from .image_files import (
    TRACES,
    gif_frame_bomb,
    gif_with_comment,
    photo,
    png_with_text,
    same_picture,
    webp_with_metadata,
)
from .support import csrf_from

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow


def picture(fmt: str = "PNG", size: tuple[int, int] = (4, 3), **options) -> bytes:
    """Return a small real image in ``fmt``."""
    buffer = io.BytesIO()
    PILImage.new("RGB", size, (200, 30, 30)).save(buffer, fmt, **options)
    return buffer.getvalue()


def animated_gif(frames: int = 3, size: tuple[int, int] = (4, 4)) -> bytes:
    """Return an animated GIF."""
    assert frames <= 4
    buffer = io.BytesIO()
    # Distinct colours: Pillow merges identical consecutive frames.
    images = [PILImage.new("RGB", size, (60 * index, 0, 0)) for index in range(frames)]
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_claiming(width: int, height: int) -> bytes:
    """Return a tiny, well-formed PNG whose header claims ``width`` x ``height``."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\x00\x00\x00" * 4)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


def upload(auth, data: bytes, filename: str = "photo.png", **fields):
    """Upload ``data`` from the images page."""
    return auth.post_form(
        "/admin/images/", image=(io.BytesIO(data), filename), **fields
    )


def stored(app: Flask) -> tuple[int, list[Path]]:
    """Return the number of image rows and the files in the upload folder."""
    folder = Path(app.config["UPLOAD_FOLDER"])
    with app.app_context():
        rows = session.execute(select(func.count(Image.id))).scalar_one()
    files = sorted(folder.iterdir()) if folder.exists() else []
    return rows, files


def originals(files: list[Path]) -> list[Path]:
    """Return the uploaded images among ``files``, without their variants."""
    return [file for file in files if re.fullmatch(r"[0-9a-f]{32}\.\w+", file.name)]


def only_database_files(tmp_path: Path) -> list[str]:
    """Return every file under ``tmp_path`` that is not the database or an upload."""
    return [
        str(path.relative_to(tmp_path))
        for path in tmp_path.rglob("*")
        if path.is_file()
        and not path.name.startswith("blog.db")
        and path.parent.name != "uploads"
    ]


@pytest.fixture
def author(auth):
    auth.login()
    return auth


@pytest.mark.parametrize(
    ("data", "extension", "content_type"),
    [
        (picture("PNG"), "png", "image/png"),
        (picture("JPEG"), "jpg", "image/jpeg"),
        (picture("WEBP"), "webp", "image/webp"),
        (animated_gif(), "gif", "image/gif"),
    ],
    ids=["png", "jpeg", "webp", "animated-gif"],
)
def test_upload_stores_a_real_image_under_a_new_name(
    app, client, author, data, extension, content_type
):
    # The name and its extension say "document"; the content decides.
    response = upload(author, data, filename="Holiday Photo.txt", alt="The sea")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    rows, files = stored(app)
    assert rows == 1
    [file] = originals(files)
    assert re.fullmatch(rf"[0-9a-f]{{32}}\.{extension}", file.name)
    if extension == "jpg":
        # Encoded again to drop any metadata, with the same tables.
        assert same_picture(file.read_bytes(), data)
    else:
        # Nothing to strip: the chunks that draw the picture are kept as sent.
        assert file.read_bytes() == data
    assert f"![The sea](/media/{file.name})" in page
    assert "Holiday Photo.txt" in page
    with client.get(f"/media/{file.name}") as served:
        assert served.status_code == 200
        assert served.headers["Content-Type"] == content_type
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in served.headers["Content-Security-Policy"]
        assert "immutable" in served.headers["Cache-Control"]
        assert served.data == file.read_bytes()


def test_upload_from_the_post_form_adds_markdown_to_the_body(app, client, author):
    response = author.post_form(
        "/admin/posts/new/image",
        title="Trip",
        body="We went to the sea.",
        tags="travel",
        status="draft",
        image=(io.BytesIO(picture()), "sea.png"),
        image_alt="The [blue] sea",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    [file] = originals(stored(app)[1])
    markdown = rf"![The \[blue\] sea](/media/{file.name})"
    # The form comes back with every field kept and the image added.
    assert f"We went to the sea.\n\n{markdown}\n</textarea>" in html
    assert 'value="Trip"' in html and 'value="travel"' in html
    assert "Save the post to keep it there" in html
    with app.app_context():
        assert session.scalars(select(Post)).all() == []
    # Saving the form as shown publishes the image in the post.
    saved = author.create_post("Trip", body=f"We went to the sea.\n\n{markdown}\n")
    assert saved.status_code == 302
    post = client.get("/posts/trip").get_data(as_text=True)
    assert f'<img src="/media/{file.name}" alt="The [blue] sea" ' in post


def test_upload_into_an_existing_post_keeps_editing_it(app, client, author):
    author.create_post("Trip", body="Text.")
    response = author.post_form(
        "/admin/posts/1/image",
        title="Trip",
        body="Text.",
        status="published",
        image=(io.BytesIO(picture("JPEG")), "sea.jpg"),
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'action="/admin/posts/1/edit"' in html
    assert re.search(r"Text\.\n\n!\[\]\(/media/[0-9a-f]{32}\.jpg\)", html)


BAD_UPLOADS = {
    "text": (b"just some words, not a picture", "notes.png"),
    "html": (b"<html><script>alert(1)</script></html>", "page.png"),
    "svg": (
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>',
        "drawing.svg",
    ),
    "empty": (b"", "empty.png"),
    "truncated-png": (picture("PNG", (64, 64))[:-40], "cut.png"),
    "truncated-jpeg": (picture("JPEG", (64, 64))[:200], "cut.jpg"),
    "png-signature-only": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "fake.png"),
    "bmp-not-accepted": (picture("BMP"), "old.bmp"),
    "huge-dimensions": (png_claiming(100_000, 100_000), "bomb.png"),
    "path-up": (picture(), "../../evil.png"),
    "path-absolute": (picture(), "/etc/cron.d/evil.png"),
    # Doubled, because the header quotes backslashes: the app gets ..\..\evil.png
    "path-windows": (picture(), "..\\\\..\\\\evil.png"),
    "control-character": (picture(), "evil\x00.png"),
}


@pytest.mark.parametrize(("data", "filename"), BAD_UPLOADS.values(), ids=BAD_UPLOADS)
def test_refused_uploads_store_nothing(app, tmp_path, client, author, data, filename):
    response = upload(author, data, filename=filename)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'class="error-summary" role="alert"' in html
    assert stored(app) == (0, [])
    assert only_database_files(tmp_path) == []


def test_refused_upload_from_the_post_form_keeps_the_text(app, author):
    response = author.post_form(
        "/admin/posts/new/image",
        title="Trip",
        body="My words.",
        status="draft",
        image=(io.BytesIO(b"not an image"), "x.png"),
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "not an image this site accepts" in html
    assert "My words.</textarea>" in html
    assert stored(app) == (0, [])


def test_uploads_over_the_pixel_limit_are_refused(app, author):
    app.config["MAX_IMAGE_PIXELS"] = 100 * 100
    response = upload(author, picture("PNG", (101, 100)))
    assert response.status_code == 400
    assert "too many pixels" in response.get_data(as_text=True)
    assert stored(app) == (0, [])
    # Frames count too: a long animation is as costly as a big picture.
    app.config["MAX_IMAGE_PIXELS"] = 3 * 16
    assert upload(author, animated_gif(4, (4, 4)), "a.gif").status_code == 400
    assert upload(author, animated_gif(3, (4, 4)), "a.gif").status_code == 302


def test_uploads_over_the_size_limit_are_refused(app, author):
    data = picture("PNG", (64, 64), compress_level=0)
    app.config["MAX_IMAGE_BYTES"] = len(data) - 1
    response = upload(author, data)
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
    assert stored(app) == (0, [])


def test_requests_over_the_request_limit_are_refused(app, author):
    data = picture("PNG", (64, 64), compress_level=0)
    app.config["MAX_CONTENT_LENGTH"] = len(data) // 2
    response = upload(author, data)
    assert response.status_code == 413
    assert "larger than this site accepts" in response.get_data(as_text=True)
    assert stored(app) == (0, [])


def test_uploading_needs_a_login_and_a_csrf_token(app, client):
    response = client.post(
        "/admin/images/", data={"image": (io.BytesIO(picture()), "a.png")}
    )
    assert response.status_code == 400  # no CSRF token
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    refused = client.post(
        "/admin/images/",
        data={"csrf_token": token, "image": (io.BytesIO(picture()), "a.png")},
    )
    assert refused.status_code == 302
    assert "/admin/login" in refused.headers["Location"]
    assert stored(app) == (0, [])


@pytest.mark.parametrize(
    "name",
    [
        "../blog.db",
        "..%2Fblog.db",
        "0123456789abcdef0123456789abcdef.svg",
        "0123456789abcdef0123456789abcdef.png",
        "secret_key",
    ],
)
def test_media_serves_only_uploaded_names(client, name):
    response = client.get(f"/media/{name}")
    assert response.status_code == 404


def test_unused_images_can_be_deleted_and_used_ones_cannot(app, client, author):
    upload(author, picture(), "used.png")
    upload(author, picture("JPEG"), "unused.jpg")
    with app.app_context():
        used, unused = session.scalars(select(Image).order_by(Image.id)).all()
    author.create_post("Trip", body=f"Look: ![sea](/media/{used.name})")
    page = client.get("/admin/images/").get_data(as_text=True)
    assert "Shown in:" in page and ">Trip</a>" in page
    assert f"/admin/images/{unused.id}/delete" in page
    assert f"/admin/images/{used.id}/delete" not in page

    refused = author.post_form(f"/admin/images/{used.id}/delete")
    assert refused.status_code == 400
    assert "is still shown in “Trip”" in refused.get_data(as_text=True)
    deleted = author.post_form(f"/admin/images/{unused.id}/delete")
    assert deleted.status_code == 302
    rows, files = stored(app)
    assert rows == 1
    # The deleted image's variants went with it.
    assert [file.name for file in originals(files)] == [used.name]
    assert all(file.name.startswith(used.name[:32]) for file in files)
    assert client.get(f"/media/{unused.name}").status_code == 404
    with client.get(f"/media/{used.name}") as still_there:
        assert still_there.status_code == 200
    assert author.post_form("/admin/images/99/delete").status_code == 404


def test_the_images_page_lists_uploads_with_their_markdown(app, client, author):
    assert "No images yet." in client.get("/admin/images/").get_data(as_text=True)
    upload(author, picture("PNG", (40, 30)), "chart.png")
    page = client.get("/admin/images/").get_data(as_text=True)
    assert "chart.png" in page
    assert "40 × 30 pixels" in page
    assert re.search(r'value="!\[\]\(/media/[0-9a-f]{32}\.png\)"', page)


def test_an_author_lists_and_deletes_only_their_own_images(app, client, auth, bob):
    auth.login()
    upload(auth, picture(), "alices.png")
    auth.login_as(bob)
    upload(auth, picture("JPEG"), "bobs.jpg")
    page = client.get("/admin/images/").get_data(as_text=True)
    assert "bobs.jpg" in page
    assert "alices.png" not in page and "/admin/images/1/delete" not in page
    assert auth.post_form("/admin/images/1/delete").status_code == 403
    assert auth.post_form("/admin/images/2/delete").status_code == 302
    rows, files = stored(app)
    assert rows == 1 and len(originals(files)) == 1
    assert all(file.name.startswith(originals(files)[0].name[:32]) for file in files)


def test_an_author_sees_which_posts_show_their_image_but_links_only_theirs(
    app, client, auth, bob
):
    auth.login_as(bob)
    upload(auth, picture(), "bobs.png")
    with app.app_context():
        name = session.scalars(select(Image.name)).one()
    auth.create_post("Bob shows it", body=f"![it](/media/{name})")
    auth.logout()
    auth.login()
    auth.create_post("Alice shows it too", body=f"![it](/media/{name})")
    auth.login_as(bob)
    page = client.get("/admin/images/").get_data(as_text=True)
    assert '<a href="/admin/posts/1/edit">Bob shows it</a>' in page
    assert "“Alice shows it too”" in page
    assert "/admin/posts/2/edit" not in page


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    """Overwrite bytes of ``data`` at the given offsets, then cut it short."""
    buffer = bytearray(data)
    for offset, value in edits:
        buffer[offset % len(buffer)] = value
    return bytes(buffer[: max(1, len(buffer) - cut)])


_SAMPLES = [
    picture("PNG", (8, 8)),
    picture("JPEG", (8, 8)),
    picture("WEBP", (8, 8)),
    animated_gif(3, (8, 8)),
]
_damaged_images = st.builds(
    _mutate,
    st.sampled_from(_SAMPLES),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
    st.integers(0, 64),
)


@settings(
    max_examples=100,
    deadline=None,
    # One app for all examples: each either stores an image (a new row and
    # file) or, as asserted, stores nothing.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=st.one_of(st.binary(max_size=2048), _damaged_images),
    filename=st.text(max_size=40),
)
def test_any_upload_is_stored_whole_or_not_at_all(app, author, data, filename):
    before = stored(app)
    response = upload(author, data, filename=filename)
    assert response.status_code in {302, 400}
    rows, files = stored(app)
    if response.status_code == 400:
        assert (rows, files) == before
    else:
        # A damaged file that still decodes is stored whole, as its row says.
        assert rows == before[0] + 1
        added = set(files) - set(before[1])
        [new] = originals(sorted(added))
        with app.app_context():
            image = session.scalars(select(Image).where(Image.name == new.name)).one()
            # Its variants, each stored whole as its row says, and no other file.
            sizes = {variant.name: variant.size for variant in image.variants}
        assert {file.name for file in added} == {new.name, *sizes}
        for file in added:
            content = file.read_bytes()
            with PILImage.open(io.BytesIO(content)) as picture:
                picture.load()
            assert len(content) == sizes.get(file.name, image.size)
        content = new.read_bytes()
        with PILImage.open(io.BytesIO(content)) as picture:
            picture.load()
            assert picture.size == (image.width, image.height)
        assert image.size == len(content)


# -- metadata ------------------------------------------------------------------


def traces(data: bytes) -> list[bytes]:
    """Return the traces of metadata (GPS position, comments, XMP) in ``data``."""
    return [trace for trace in TRACES if trace in data]


def frames_of(data: bytes) -> list[tuple]:
    """Return each frame's size and duration, and the loop count."""
    with PILImage.open(io.BytesIO(data)) as picture:
        frames = []
        for index in range(getattr(picture, "n_frames", 1)):
            picture.seek(index)
            picture.load()  # WebP tells a frame's duration once it is decoded
            frames.append((picture.size, picture.info.get("duration")))
        return [*frames, picture.info.get("loop")]


def served_upload(app, client) -> tuple[Image, bytes]:
    """Return the one uploaded image's row and the bytes /media serves for it."""
    with app.app_context():
        image = session.scalars(select(Image)).one()
    with client.get(f"/media/{image.name}") as served:
        assert served.status_code == 200
        return image, served.data


def test_an_uploaded_photo_gives_away_no_position_or_comment(app, client, author):
    data = photo((64, 48))
    with PILImage.open(io.BytesIO(data)) as sent:
        assert sent.getexif().get_ifd(0x8825)  # GPS, as a phone writes it
    assert len(traces(data)) >= 6
    assert upload(author, data, "IMG_0001.jpg").status_code == 302
    image, served = served_upload(app, client)
    assert traces(served) == []
    with PILImage.open(io.BytesIO(served)) as picture:
        assert picture.format == "JPEG"
        assert picture.size == (64, 48)
        assert dict(picture.getexif()) == {}
        assert picture.getexif().get_ifd(0x8825) == {}
        assert not {"exif", "xmp", "comment", "photoshop"} & set(picture.info)
    assert same_picture(served, data)
    assert (image.size, image.width, image.height) == (len(served), 64, 48)
    assert image.metadata_stripped


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (png_with_text(), "chart.png"),
        (gif_with_comment(), "dance.gif"),
        (webp_with_metadata(), "still.webp"),
        (webp_with_metadata(lossless=True), "lossless.webp"),
        (webp_with_metadata(animated=True), "moving.webp"),
    ],
    ids=["png-text-chunks", "gif-comment-xmp", "webp", "webp-lossless", "webp-anim"],
)
def test_png_gif_and_webp_lose_metadata_but_no_pixel(
    app, client, author, data, filename
):
    assert traces(data)
    assert upload(author, data, filename).status_code == 302
    image, served = served_upload(app, client)
    assert traces(served) == []
    # Every frame, its duration and the loop count are kept, pixel for pixel.
    assert frames_of(served) == frames_of(data)
    with (
        PILImage.open(io.BytesIO(data)) as sent,
        PILImage.open(io.BytesIO(served)) as kept,
    ):
        for index in range(getattr(sent, "n_frames", 1)):
            sent.seek(index)
            kept.seek(index)
            assert kept.convert("RGBA").tobytes() == sent.convert("RGBA").tobytes()
    assert image.size == len(served)


def test_a_turned_photo_is_stored_upright(app, client, author):
    # Orientation 6: the camera was held on its side; the picture is stored
    # 64 wide and 48 high and must be shown 48 wide and 64 high.
    assert upload(author, photo((64, 48), orientation=6), "side.jpg").status_code == 302
    image, served = served_upload(app, client)
    assert "48 × 64 pixels" in client.get("/admin/images/").get_data(as_text=True)
    assert (image.width, image.height) == (48, 64)
    with PILImage.open(io.BytesIO(served)) as picture:
        assert picture.size == (48, 64)
        assert 0x0112 not in picture.getexif()
        # The left half (red) is now on top, the right half (blue) below.
        red, _, blue = picture.convert("RGB").getpixel((24, 4))
        assert red > blue + 40
        red, _, blue = picture.convert("RGB").getpixel((24, 60))
        assert blue > red + 40


def test_a_jpeg_keeps_its_colour_profile_and_its_quality(app, client, author):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = photo((96, 64), icc_profile=icc, subsampling=0, quality=95)
    assert upload(author, data, "colour.jpg").status_code == 302
    _, served = served_upload(app, client)
    with (
        PILImage.open(io.BytesIO(data)) as sent,
        PILImage.open(io.BytesIO(served)) as kept,
    ):
        assert kept.info["icc_profile"] == icc
        assert kept.quantization == sent.quantization
        assert JpegImagePlugin.get_sampling(kept) == 0  # 4:4:4, as sent
    # 4:4:4 at quality 95: the second encoding is closer still.
    assert same_picture(served, data, psnr=50)


# -- hostile animations --------------------------------------------------------


def test_a_gif_whose_frames_outgrow_its_screen_is_refused(app, tmp_path, author):
    # A 1×1 screen whose later frames are 9000×9000: decoding them took 1 GB.
    response = upload(author, gif_frame_bomb(), "tiny.gif")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "too many pixels: a frame of it is 9000 × 9000" in html
    assert stored(app) == (0, [])
    assert only_database_files(tmp_path) == []


def test_animations_over_the_frame_limit_are_refused(app, author):
    app.config["MAX_IMAGE_FRAMES"] = 2
    response = upload(author, animated_gif(3), "long.gif")
    assert response.status_code == 400
    assert "too many frames: at most 2" in response.get_data(as_text=True)
    assert stored(app) == (0, [])
    assert upload(author, animated_gif(2), "short.gif").status_code == 302


def test_animated_webp_frames_count_towards_the_pixel_limit(app, author):
    app.config["MAX_IMAGE_PIXELS"] = 2 * 16 * 12
    data = webp_with_metadata(animated=True)  # three frames of 16×12
    response = upload(author, data, "moving.webp")
    assert response.status_code == 400
    assert "all frames together" in response.get_data(as_text=True)
    assert stored(app) == (0, [])


# -- files on disk -------------------------------------------------------------


@pytest.fixture
def umask_022():
    """Run with the usual umask, which leaves files world-readable by default."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_uploads_are_readable_by_the_server_and_its_group_only(app, author, umask_022):
    assert upload(author, picture()).status_code == 302
    folder = Path(app.config["UPLOAD_FOLDER"])
    files = stored(app)[1]
    assert len(originals(files)) == 1 and len(files) > 1
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    # The variants as much as the original.
    assert {stat.S_IMODE(file.stat().st_mode) for file in files} == {0o640}


def _add_old_image(app, name: str, data: bytes | None, size=(64, 48)) -> None:
    """Add an image as the code before stripping stored it: bytes as sent."""
    folder = Path(app.config["UPLOAD_FOLDER"])
    folder.mkdir(exist_ok=True)
    if data is not None:
        (folder / name).write_bytes(data)
    with get_engine(app).begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO images (name, original_name, content_type, size, width,"
            " height, created_at) VALUES (?, ?, 'image/jpeg', ?, ?, ?, "
            "'2024-05-01 12:00:00')",
            (name, "old.jpg", len(data or b""), *size),
        )


@pytest.mark.sqlite  # a database from before Alembic is a SQLite file
def test_init_db_strips_images_uploaded_before_once(
    app, client, runner, caplog, umask_022
):
    # A database from before stripping: no marker column, files as sent.
    with get_engine(app).begin() as conn:
        conn.exec_driver_sql("ALTER TABLE images DROP COLUMN metadata_stripped")
        # A database from before homepage used Alembic has no version table.
        conn.exec_driver_sql("DROP TABLE alembic_version")
    old = f"{'a' * 32}.jpg"
    _add_old_image(app, old, photo((64, 48), orientation=6))
    missing, damaged = f"{'b' * 32}.jpg", f"{'c' * 32}.jpg"
    _add_old_image(app, missing, None)
    _add_old_image(app, damaged, b"\xff\xd8 not really a JPEG")

    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    file = Path(app.config["UPLOAD_FOLDER"]) / old
    stripped = file.read_bytes()
    assert traces(stripped) == []
    with client.get(f"/media/{old}") as served:
        assert served.data == stripped
    with app.app_context():
        rows = {image.name: image for image in session.scalars(select(Image))}
    assert rows[old].metadata_stripped
    assert (rows[old].size, rows[old].width, rows[old].height) == (
        len(stripped),
        48,
        64,
    )
    assert stat.S_IMODE(file.stat().st_mode) == 0o640
    # The files it cannot read are logged and left as they are.
    assert not rows[missing].metadata_stripped
    assert not rows[damaged].metadata_stripped
    assert f"Image {missing} left as it is" in caplog.text
    assert f"Image {damaged} left as it is" in caplog.text

    # Encoding a JPEG again loses a little: the next init-db leaves it alone.
    changed = file.stat().st_mtime_ns
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert file.read_bytes() == stripped
    assert file.stat().st_mtime_ns == changed
    assert list(Path(app.config["UPLOAD_FOLDER"]).glob(".*")) == []

"""A blog with a post of three phone photos, served for the browser and bench/.

The photos are what a phone writes: 3000 × 4000 pixels, 2-4 MB of JPEG each.
They are stored through the upload path (core.images.store), so the post
shows them with the variants an upload makes.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from homepage import create_app
from homepage.core import images
from homepage.core.authors import create_author
from homepage.core.models import PUBLISHED, Post
from homepage.core.posts import PostFields, check_post, save
from homepage.core.schema import init_db
from homepage.db import get_engine, write_transaction

from ..modwsgi import PROJECT_ROOT, ModWsgiServer, give_to_server, make_data_dir
from ..support import PASSWORD

SECRET_KEY = "photo-post-key-" + "p" * 48
SLUG = "three-views-from-the-ridge"


def phone_photo(seed: int, width: int = 3000, height: int = 4000) -> bytes:
    """Return a phone-sized JPEG: a sky, hills, a sun and grain, per ``seed``."""
    canvas = Image.new("RGB", (width, height), (110 + seed * 20, 160, 215))
    draw = ImageDraw.Draw(canvas)
    for band in range(height // 2, height, 8):
        shade = 60 + (band * 7 + seed * 31) % 90
        draw.rectangle((0, band, width, band + 8), fill=(shade // 2, shade, 50))
    left = 400 * (seed + 1)
    draw.ellipse((left, 500, left + 500, 1000), fill="gold")
    # Grain, as a real photo has, so the JPEG weighs what a phone's does.
    noise = Image.effect_noise((width, height), 40).convert("RGB")
    canvas = Image.blend(canvas, noise, 0.15)
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@dataclass
class PhotoSite:
    """The served blog, the photo post's path and the photos' stored names."""

    server: ModWsgiServer
    data: Path
    path: str
    names: list[str]
    #: The bytes of each photo as uploaded, by stored name.
    uploaded: dict[str, int]

    @property
    def url(self) -> str:
        return self.server.url


def seed(data: Path) -> tuple[list[str], dict[str, int]]:
    """Create the author and the photo post; return the names and upload sizes."""
    app = create_app(
        {
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": f"sqlite:///{data / 'blog.db'}",
            "UPLOAD_FOLDER": str(data / "uploads"),
        }
    )
    names, uploaded = [], {}
    with app.app_context():
        init_db()
        author = create_author("alice", PASSWORD)
        lines = []
        for number in range(3):
            data_bytes = phone_photo(number)
            image = images.store(
                data_bytes,
                f"IMG_{number}.jpg",
                author,
                alt=f"The ridge, view {number + 1}",
            )
            images.commit_upload(image)
            names.append(image.name)
            uploaded[image.name] = len(data_bytes)
            lines.append(f"![The ridge, view {number + 1}](/media/{image.name})")
        body = (
            "Three views from the ridge, an hour before sunset.\n\n"
            + "\n\nThe path climbs on.\n\n".join(lines)
            + "\n\n```\nroute: 14 km, 620 m up\n```\n"
        )
        fields = PostFields(
            title="Three views from the ridge", slug=SLUG, body=body, status=PUBLISHED
        )
        assert not check_post(fields)
        with write_transaction():
            save(Post(author=author), fields, author)
    get_engine(app).dispose()
    return names, uploaded


@contextmanager
def serve_photo_post() -> Iterator[PhotoSite]:
    """Serve the blog with the photo post under mod_wsgi-express; stop it after."""
    data = make_data_dir("homepage-photos-")
    try:
        names, uploaded = seed(data)
        give_to_server(data)
        server = ModWsgiServer(
            PROJECT_ROOT / "homepage.wsgi",
            data,
            processes=1,
            threads=8,
            env={
                "FLASK_DATABASE_URL": f"sqlite:///{data / 'blog.db'}",
                "FLASK_SECRET_KEY": SECRET_KEY,
                "FLASK_UPLOAD_FOLDER": str(data / "uploads"),
                "HOMEPAGE_INSTANCE_PATH": str(data / "instance"),
            },
        )
        server.start()
        try:
            yield PhotoSite(server, data, f"/posts/{SLUG}", names, uploaded)
        finally:
            server.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)

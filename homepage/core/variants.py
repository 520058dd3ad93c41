"""Image variants: smaller widths and lighter formats of a cleaned image.

Plain functions on bytes, like :mod:`imagefiles`, so that an upload makes its
variants before any database work and the upgrade can reuse them.

A phone 390 px wide should not download a 3000 px photo. Each still image is
stored again at the widths in :data:`WIDTHS` that are smaller than itself
(never enlarged), in its own format and in WebP, and in AVIF when this Pillow
can write it; WebP and AVIF are made at the image's own width too when it is
no wider than the widest width. The browser
picks among them from the ``srcset`` and ``<source>`` elements that
:mod:`pictures` writes into a post.

Every variant is encoded from pixels alone: nothing of the source's ``info``
(EXIF, XMP, comments, text) is passed to an encoder, only the colour profile.

Animations (GIF or WebP with several frames) get no variants: resizing every
frame costs seconds for a file readers see at its own size anyway, and the
cleaned original is served as it is.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import PIL.features
import PIL.Image

#: The widths made of each image wider than them, in CSS pixels times the
#: usual device pixel ratios of a post's 40rem column (640 px): a phone at
#: 1x/2x, a laptop at 1x/2x, a large screen at 2.5x.
WIDTHS = (480, 960, 1600)
#: Bumped when the variants made of an image change (other widths, another
#: format): ``init-db`` and ``flask process-images`` make them again.
VARIANTS_VERSION = 1
#: Encoder settings: a little lighter than the source's quality, invisible at
#: the size each variant is shown.
JPEG_QUALITY = 82
WEBP_QUALITY = 80
AVIF_QUALITY = 60
#: libavif's speed 0-10: 8 keeps a 12-megapixel upload near a second.
AVIF_SPEED = 8
#: The content types of the formats a variant may have, by Pillow's name.
CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "AVIF": "avif"}


def avif_supported() -> bool:
    """Tell whether this Pillow can write AVIF files."""
    return bool(PIL.features.check_module("avif"))


@dataclass(frozen=True)
class Variant:
    """One smaller or lighter copy of an image."""

    data: bytes
    format: str
    width: int
    height: int

    @property
    def content_type(self) -> str:
        """Return the content type the variant is served with."""
        return CONTENT_TYPES[self.format]

    def file_name(self, image_name: str) -> str:
        """Return the variant's file name: the image's, its width, a content hash.

        The hash makes the name change whenever the bytes do (a new encoder,
        another quality), so a name served as immutable never changes meaning.
        """
        stem = image_name.rsplit(".", 1)[0]
        digest = hashlib.sha256(self.data).hexdigest()[:16]
        return f"{stem}-{self.width}-{digest}.{EXTENSIONS[self.format]}"


def make_variants(data: bytes, format: str) -> list[Variant]:
    """Return the variants of a cleaned image ``data`` in Pillow's ``format``.

    ``data`` must be what :func:`imagefiles.clean` returned: upright, within
    the limits, already decoded once.
    """
    with PIL.Image.open(io.BytesIO(data)) as image:
        if getattr(image, "n_frames", 1) > 1:
            return []
        width, height = image.size
        icc_profile = image.info.get("icc_profile")
        if image.format == "JPEG":
            # Decode at the smallest scale (1/2, 1/4, 1/8) that still covers
            # the widest variant: several times faster on a phone photo.
            image.draft(image.mode, _scaled(max(WIDTHS), width, height))
        pixels = _drawable(image)
    # A profile describes the source's colours; CMYK pixels were converted.
    if image.mode not in {"RGB", "RGBA", "L", "LA"}:
        icc_profile = None
    formats = [format] if format != "WEBP" else []
    light = ["WEBP", "AVIF"] if avif_supported() else ["WEBP"]
    variants = []
    for target in [w for w in WIDTHS if w < width] + [width]:
        size = _scaled(target, width, height)
        resized = (
            pixels
            if size == pixels.size
            else pixels.resize(size, PIL.Image.Resampling.LANCZOS, reducing_gap=3.0)
        )
        # The original itself is served at its own width in its own format.
        # Lighter copies of it are made only up to the widest width: above, a
        # browser would pick them only for a column wider than 2.5 times 40rem
        # in device pixels, and a 12-megapixel AVIF costs seconds to encode.
        if target == width:
            kinds = [k for k in light if k != format] if width <= WIDTHS[-1] else []
        else:
            kinds = formats + light
        for kind in kinds:
            try:
                encoded = _encode(resized, kind, icc_profile)
            except (OSError, ValueError):
                # Beyond what the format can hold (WebP stops at 16,383
                # pixels a side): the browser takes another format.
                continue
            variants.append(Variant(encoded, kind, *resized.size))
    return variants


def _scaled(target: int, width: int, height: int) -> tuple[int, int]:
    """Return the size of a ``width`` × ``height`` picture made ``target`` wide."""
    return target, max(1, round(height * target / width))


def _drawable(image: PIL.Image.Image) -> PIL.Image.Image:
    """Return the pixels of ``image`` in a mode every encoder takes, alpha kept."""
    if image.mode in {"RGB", "RGBA", "L", "LA"}:
        pixels = image.copy()
    elif image.mode == "P" and "transparency" in image.info or image.mode == "PA":
        pixels = image.convert("RGBA")
    elif image.mode.startswith("I") or image.mode == "F":
        # 16-bit and floating-point greys: scaled down to 8 bits.
        pixels = image.point(lambda value: value / 256).convert("L")
    else:
        pixels = image.convert("RGBA" if "A" in image.mode else "RGB")
    # Nothing of the source's metadata may reach an encoder.
    pixels.info = {}
    return pixels


def _encode(pixels: PIL.Image.Image, format: str, icc_profile: bytes | None) -> bytes:
    """Encode ``pixels`` in ``format`` with the colour profile and nothing else."""
    options: dict = {}
    if icc_profile:
        options["icc_profile"] = icc_profile
    image = pixels
    if format == "JPEG":
        if image.mode not in {"RGB", "L"}:
            image = image.convert("RGB")
        options.update(quality=JPEG_QUALITY, optimize=True, progressive=True)
    elif format == "PNG":
        options.update(optimize=True)
    elif format == "GIF":
        image = image.convert("RGBA") if image.mode == "LA" else image
        options.update(optimize=True)
    elif format == "WEBP":
        if image.mode not in {"RGB", "RGBA"}:
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        options.update(quality=WEBP_QUALITY, method=4)
    elif format == "AVIF":
        if image.mode not in {"RGB", "RGBA"}:
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        options.update(quality=AVIF_QUALITY, speed=AVIF_SPEED)
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()

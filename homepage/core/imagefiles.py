"""Image files: decoding them within limits, orienting them, stripping metadata.

Plain functions on bytes, with no request or app objects, so that the slow part
of an upload runs before any database work and the upgrade can reuse it.

What is stored is what a reader's browser needs to draw the picture, and nothing
else: no EXIF (camera, time, GPS position), XMP, IPTC, comments or text chunks.
The colour profile stays (colours would shift without it, and it says nothing
about the author). How each format gets there:

- JPEG is decoded and encoded again, with the source's own quantization tables
  and chroma subsampling, so the only change is rounding, invisible to the eye;
  the EXIF orientation is applied to the pixels first. Only the first picture
  of a multi-picture (MPO) file is kept: it is the one browsers show.
- PNG, GIF and WebP are rewritten chunk by chunk (block by block for GIF),
  keeping only the chunks that draw the picture: pixels and animation are
  copied byte for byte, so nothing is lost.
- A PNG or WebP whose EXIF asks for a rotation or a flip is decoded, turned and
  encoded again: PNG losslessly, WebP losslessly when the source is lossless
  (it has no lossy ``VP8`` chunk) and otherwise at quality 90, with every frame,
  its duration and the loop count of an animation.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import PIL.Image
import PIL.ImageFile
import PIL.ImageOps
from PIL import JpegImagePlugin

#: The formats accepted, as Pillow names them, with the extension and content
#: type they are stored and served with. Only these decoders are ever tried, so
#: an upload cannot reach Pillow's rarer (and riskier) file parsers.
FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    # Pillow reads many camera and phone JPEGs as MPO (several pictures).
    "MPO": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
}
#: The decoders tried; Pillow's JPEG decoder is the one that yields MPO.
_DECODERS = ["JPEG", "PNG", "GIF", "WEBP"]

#: The EXIF tag that says how the camera was held.
_ORIENTATION = 0x0112

#: WebP quality when a lossy WebP must be encoded again (to turn it upright):
#: high enough that one more generation shows no visible loss.
WEBP_QUALITY = 90

_NOT_AN_IMAGE = (
    "This file is not an image this site accepts (JPEG, PNG, GIF or WebP), "
    "or it is damaged."
)


class ImageError(Exception):
    """An image that was refused, with the message the author sees."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Limits:
    """How much decoding an image may cost."""

    #: The most pixels of one frame, and of all frames together.
    pixels: int
    #: The most frames of an animation.
    frames: int


@dataclass
class Decoded:
    """What decoding an image revealed."""

    format: str
    width: int
    height: int
    #: The EXIF orientation (1 to 8); 1 means upright.
    orientation: int = 1


@dataclass
class Cleaned:
    """An image without metadata, ready to be stored."""

    data: bytes
    format: str
    width: int
    height: int


def clean(data: bytes, limits: Limits) -> Cleaned:
    """Return ``data`` upright and without metadata, after decoding every frame
    to prove it is a whole, sane image.

    Each frame's size is checked after its header is read and before its
    pixels are decoded, so a small file that claims huge frames costs nothing.

    :raise ImageError: when it is not an image this site accepts, is damaged or
        is over ``limits``.
    """
    with _pillow_warnings():
        decoded = _decode(data, limits)
        try:
            if decoded.format in {"JPEG", "MPO"}:
                cleaned = _encode_jpeg(data)
            elif decoded.orientation != 1:
                cleaned = _encode_turned(data, decoded.format)
            else:
                cleaned = _STRIPPERS[decoded.format](data)
            with _opened(cleaned) as image:
                return Cleaned(cleaned, _stored_format(image.format), *image.size)
        except Exception as exc:
            # The file decoded above, so this is a file Pillow reads but cannot
            # write again (an odd mode, a broken chunk it skipped): refuse it.
            raise ImageError(_NOT_AN_IMAGE) from exc


# -- decoding ------------------------------------------------------------------


@contextmanager
def _pillow_warnings() -> Iterator[None]:
    """Make Pillow's decompression bomb warnings errors; silence its notes on
    broken metadata, which is dropped anyway."""
    with warnings.catch_warnings():
        # Pillow only warns about large images below twice its own limit.
        warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        yield


def _decode(data: bytes, limits: Limits) -> Decoded:
    """Decode every frame of ``data`` within ``limits``."""
    try:
        with _opened(data) as image:
            # Pillow sets the format of every file one of its plugins opened.
            assert image.format is not None
            decoded = Decoded(image.format, *image.size)
            _check_size(image.size, image.size, limits)
            image.verify()
        # verify() checks structure and checksums but leaves the image
        # unusable and misses truncated pixel data; decoding every frame
        # catches that.
        with _opened(data) as image:
            _load_frames(image, limits)
            decoded.orientation = _orientation(image)
    except ImageError:
        raise
    except (
        PIL.Image.DecompressionBombError,
        PIL.Image.DecompressionBombWarning,
    ) as exc:
        # Pillow's own limit, above this site's: a frame larger still.
        raise ImageError("The image has too many pixels.") from exc
    except Exception as exc:
        # Damaged files make decoders raise almost anything (OSError,
        # SyntaxError, ValueError, struct.error ...); each means "not an image
        # we can show", never a server error.
        raise ImageError(_NOT_AN_IMAGE) from exc
    if decoded.format not in FORMATS:
        raise ImageError(_NOT_AN_IMAGE)
    return decoded


def _opened(data: bytes) -> PIL.ImageFile.ImageFile:
    """Open ``data`` with the accepted decoders only."""
    return PIL.Image.open(io.BytesIO(data), formats=_DECODERS)


def _check_size(canvas: tuple[int, int], frame: tuple[int, int], limits: Limits):
    """Refuse a frame larger than the pixel limit."""
    width, height = max(canvas[0], frame[0]), max(canvas[1], frame[1])
    if width * height > limits.pixels:
        raise ImageError(
            f"The image has too many pixels: a frame of it is {width} × {height}, "
            f"and at most {limits.pixels:,} (width × height) are accepted."
        )


def _load_frames(image: PIL.ImageFile.ImageFile, limits: Limits) -> None:
    """Decode each frame of ``image`` within ``limits``."""
    total = 0
    frame = 0
    while True:
        if frame:
            try:
                # Seeking reads the frame's header, not its pixels. (GIF frames
                # may be larger than the screen the file declares; Pillow then
                # grows the image, and the tile shows the frame's extent.)
                image.seek(frame)
            except EOFError:
                return
        if frame >= limits.frames:
            raise ImageError(
                f"The animation has too many frames: at most {limits.frames:,} "
                "are accepted."
            )
        # A tile without extents has nothing to decode.
        extents = [tile.extents for tile in image.tile if tile.extents]
        extent = (
            max((box[2] for box in extents), default=0),
            max((box[3] for box in extents), default=0),
        )
        _check_size(image.size, extent, limits)
        total += max(image.size[0], extent[0]) * max(image.size[1], extent[1])
        if total > limits.pixels:
            raise ImageError(
                f"The image has too many pixels: at most {limits.pixels:,} "
                "(width × height, all frames together)."
            )
        image.load()
        frame += 1


def _orientation(image: PIL.Image.Image) -> int:
    """Return the EXIF orientation of ``image``: 1 (upright) unless it says 2-8."""
    orientation = image.getexif().get(_ORIENTATION, 1)
    return orientation if orientation in range(1, 9) else 1


def _stored_format(name: str | None) -> str:
    """Return the format a stored file has; a rewritten MPO is a plain JPEG."""
    return "JPEG" if name == "MPO" else str(name)


# -- encoding again ------------------------------------------------------------


def _encode_jpeg(data: bytes) -> bytes:
    """Encode the (first) picture of a JPEG again, upright and with no metadata."""
    with _opened(data) as image:
        # The JPEG decoder opened it (an MPO is a JPEG too), so it has tables.
        assert isinstance(image, JpegImagePlugin.JpegImageFile)
        options: dict = {
            # The source's own tables and subsampling: the new file is as
            # detailed as the old one, and not much larger.
            "qtables": image.quantization,
            "optimize": True,
            "progressive": "progressive" in image.info or "progression" in image.info,
        }
        subsampling = JpegImagePlugin.get_sampling(image)
        if image.layers == 3:
            # -1: a subsampling Pillow cannot name; 4:4:4 then loses nothing.
            options["subsampling"] = max(subsampling, 0)
        return _save_upright(image, "JPEG", options)


def _encode_turned(data: bytes, format: str) -> bytes:
    """Encode a PNG or WebP again with its EXIF orientation applied."""
    options: dict = {}
    if format == "WEBP":
        lossy = any(kind == b"VP8 " for kind, _ in _riff_chunks(data, deep=True))
        options = {"quality": WEBP_QUALITY} if lossy else {"lossless": True}
    with _opened(data) as image:
        # Only the animated formats' images have n_frames.
        n_frames = getattr(image, "n_frames", 1)
        if n_frames == 1:
            if "transparency" in image.info:
                options["transparency"] = image.info["transparency"]
            return _save_upright(image, format, options)
        # Animations: every frame turned, with its duration, and the loop.
        icc_profile = image.info.get("icc_profile")
        loop = image.info.get("loop", 0)
        frames, durations = [], []
        for index in range(n_frames):
            image.seek(index)
            image.load()  # WebP tells a frame's duration once it is decoded
            durations.append(image.info.get("duration", 0))
            frames.append(_upright(image))
    out = io.BytesIO()
    if icc_profile:
        options["icc_profile"] = icc_profile
    frames[0].save(
        out,
        format,
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=loop,
        **options,
    )
    return out.getvalue()


def _upright(image: PIL.Image.Image) -> PIL.Image.Image:
    """Return a copy of ``image`` turned upright, with no metadata left in it."""
    turned = PIL.ImageOps.exif_transpose(image)
    # Pillow's encoders write some of ``info`` by themselves (a JPEG's
    # comment, for one); only what is passed explicitly may be written.
    turned.info.clear()
    return turned


def _save_upright(image: PIL.Image.Image, format: str, options: dict) -> bytes:
    """Save ``image`` turned upright in ``format``, with its colour profile only."""
    icc_profile = image.info.get("icc_profile")
    turned = _upright(image)
    if icc_profile:
        options["icc_profile"] = icc_profile
    out = io.BytesIO()
    turned.save(out, format, **options)
    return out.getvalue()


# -- stripping chunks ----------------------------------------------------------

#: The PNG chunks that draw the picture (APNG's included); text (tEXt, zTXt,
#: iTXt: XMP, comments, "Raw profile" EXIF), eXIf, tIME and any other chunk go.
_PNG_KEEP = frozenset(
    b"IHDR PLTE IDAT IEND tRNS cHRM gAMA iCCP sBIT sRGB cICP mDCV cLLI "
    b"bKGD pHYs acTL fcTL fdAT".split()
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\0\0\0\0IEND\xaeB`\x82"


def _strip_png(data: bytes) -> bytes:
    """Return the PNG ``data`` with only the chunks that draw it."""
    out = bytearray(_PNG_SIGNATURE)
    offset = len(_PNG_SIGNATURE)
    while offset + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        kind = data[offset + 4 : offset + 8]
        end = offset + 12 + length
        if end > len(data):
            raise ValueError("truncated PNG chunk")
        if kind in _PNG_KEEP:
            # Kept whole, checksum included: the bytes are unchanged.
            out += data[offset:end]
        offset = end
        if kind == b"IEND":
            # Whatever follows the end is not part of the picture.
            return bytes(out)
    return bytes(out + _PNG_END)


#: GIF application extensions that draw the picture: the loop count, and the
#: colour profile.
_GIF_APPLICATIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012")


def _gif_sub_blocks(data: bytes, offset: int) -> int:
    """Return the offset just past the data sub-blocks starting at ``offset``."""
    while True:
        size = data[offset]
        offset += 1 + size
        if size == 0:
            return offset


def _strip_gif(data: bytes) -> bytes:
    """Return the GIF ``data`` with its images, their timing and the loop only.

    Comments, plain text and every other application extension (XMP among
    them) go, and so do stray bytes between blocks, which Pillow skips.
    """
    flags = data[10]
    offset = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    out = bytearray(data[:offset])
    while offset < len(data):
        introducer = data[offset]
        if introducer == 0x3B:  # trailer
            break
        if introducer == 0x2C:  # image descriptor
            flags = data[offset + 9]
            start = offset
            offset += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
            offset = _gif_sub_blocks(data, offset + 1)  # after the LZW code size
            out += data[start:offset]
        elif introducer == 0x21:  # extension
            label = data[offset + 1]
            start = offset
            offset = _gif_sub_blocks(data, offset + 2)
            application = data[start + 3 : start + 14]
            if label == 0xF9 or (label == 0xFF and application in _GIF_APPLICATIONS):
                out += data[start:offset]
        else:
            offset += 1
    if offset > len(data):
        raise ValueError("truncated GIF block")
    out.append(0x3B)
    return bytes(out)


#: The WebP chunks that draw the picture; EXIF, "XMP " and unknown ones go.
_WEBP_KEEP = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ICCP", b"ANIM", b"ANMF"})
_WEBP_FRAME_KEEP = frozenset({b"VP8 ", b"VP8L", b"ALPH"})
#: The VP8X flags that announce EXIF and XMP chunks.
_VP8X_METADATA = 0x08 | 0x04


def _riff_chunks(data: bytes, deep: bool = False):
    """Yield each (kind, payload) of a WebP file; ``deep`` also yields the
    chunks inside animation frames."""
    (size,) = struct.unpack_from("<I", data, 4)
    yield from _chunks(data[12 : 8 + size], deep)


def _chunks(area: bytes, deep: bool = False):
    """Yield each (kind, payload) of the RIFF chunks that make up ``area``."""
    offset = 0
    while offset + 8 <= len(area):
        kind = area[offset : offset + 4]
        (size,) = struct.unpack_from("<I", area, offset + 4)
        payload = area[offset + 8 : offset + 8 + size]
        if len(payload) != size:
            raise ValueError("truncated WebP chunk")
        yield kind, payload
        if deep and kind == b"ANMF":
            # A frame: 16 bytes of position, size and timing, then chunks.
            yield from _chunks(payload[16:])
        offset += 8 + size + (size & 1)


def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    """Return one RIFF chunk, padded to an even length."""
    return kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def _strip_webp(data: bytes) -> bytes:
    """Return the WebP ``data`` with only the chunks that draw it."""
    chunks = bytearray()
    for kind, payload in _riff_chunks(data):
        if kind == b"VP8X":
            payload = bytes([payload[0] & ~_VP8X_METADATA]) + payload[1:]
        elif kind == b"ANMF":
            payload = payload[:16] + b"".join(
                _riff_chunk(inner, inner_payload)
                for inner, inner_payload in _chunks(payload[16:])
                if inner in _WEBP_FRAME_KEEP
            )
        elif kind not in _WEBP_KEEP:
            continue
        chunks += _riff_chunk(kind, payload)
    return b"RIFF" + struct.pack("<I", len(chunks) + 4) + b"WEBP" + bytes(chunks)


_STRIPPERS = {"PNG": _strip_png, "GIF": _strip_gif, "WEBP": _strip_webp}

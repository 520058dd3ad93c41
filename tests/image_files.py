"""Image files made for tests: photos with metadata, and hostile animations."""

from __future__ import annotations

import io
import math
import struct
import zlib

from PIL import Image as PILImage
from PIL import ImageChops, ImageStat, PngImagePlugin

#: What a phone writes about where a photo was taken, and strings that must
#: not survive an upload.
PLACE = "SECRET-PLACE-48.8583N-2.2945E"
CAMERA = "SecretCam Model 7"
COMMENT = "taken at home by Alice"
XMP_TEXT = "alice-private-xmp-note"
XMP = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" '
    f'dc:source="{XMP_TEXT}"/>'
    '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
).encode()
#: Traces of metadata that no stored file may hold.
TRACES = [
    PLACE.encode(),
    CAMERA.encode(),
    COMMENT.encode(),
    XMP_TEXT.encode(),
    b"Exif\0\0",
    b"http://ns.adobe.com/xap/1.0/",
    b"xmpmeta",
    b"Photoshop 3.0",
    b"eXIf",
    b"tEXt",
    b"iTXt",
    b"zTXt",
]


def gps_exif(orientation: int = 1) -> PILImage.Exif:
    """Return EXIF with a camera, a GPS position and ``orientation``."""
    exif = PILImage.Exif()
    exif[0x010F] = CAMERA  # Make
    exif[0x0112] = orientation
    exif[0x8825] = {  # the GPS IFD
        0x0001: "N",
        0x0002: (48.0, 51.0, 29.88),  # latitude
        0x0003: "E",
        0x0004: (2.0, 17.0, 40.2),  # longitude
        0x0012: PLACE,  # map datum, as a string easy to look for
    }
    return exif


def two_halves(size: tuple[int, int]) -> PILImage.Image:
    """Return a picture red on the left and blue on the right, shaded like a
    photo from dark at the top to light at the bottom."""
    shade = PILImage.linear_gradient("L").resize(size)
    bright = shade.point(lambda value: 150 + value // 3)
    picture = PILImage.merge("RGB", (bright, shade, shade))
    blue = PILImage.merge("RGB", (shade, shade, bright))
    picture.paste(blue.crop((size[0] // 2, 0, *size)), (size[0] // 2, 0))
    return picture


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def photo(size: tuple[int, int] = (64, 48), orientation: int = 1, **options) -> bytes:
    """Return a JPEG as a phone writes it: EXIF with GPS, XMP, IPTC, a comment.

    The left half is red and the right half blue, so a turned picture shows.
    """
    buffer = io.BytesIO()
    options.setdefault("quality", 90)
    two_halves(size).save(
        buffer, "JPEG", exif=gps_exif(orientation), comment=COMMENT, **options
    )
    data = buffer.getvalue()
    # XMP and IPTC (Photoshop's APP13) right after the start of image.
    iptc = b"8BIM\x04\x04\0\0" + struct.pack(">I", len(PLACE)) + PLACE.encode()
    return (
        data[:2]
        + _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + XMP)
        + _segment(0xED, b"Photoshop 3.0\0" + iptc)
        + data[2:]
    )


def png_with_text(size: tuple[int, int] = (40, 30), orientation: int = 1) -> bytes:
    """Return a PNG with text, XMP, EXIF and a time stamp in its chunks."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", COMMENT)
    info.add_text("Author", CAMERA, zip=True)
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    buffer = io.BytesIO()
    two_halves(size).save(buffer, "PNG", pnginfo=info, exif=gps_exif(orientation))
    data = buffer.getvalue()
    stamp = _png_chunk(b"tIME", struct.pack(">HBBBBB", 2024, 5, 1, 12, 0, 0))
    end = data.rindex(b"IEND") - 4
    # Data after the end is not part of the picture: it must go too.
    return data[:end] + stamp + data[end:] + PLACE.encode()


def gif_with_comment(frames: int = 3) -> bytes:
    """Return an animated GIF with a comment, an XMP extension and a loop."""
    images = [PILImage.new("RGB", (8, 8), (70 * index, 0, 0)) for index in range(3)]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        "GIF",
        save_all=True,
        append_images=images[1:frames],
        duration=[100, 200, 300][:frames],
        loop=2,
        comment=COMMENT,
    )
    data = buffer.getvalue()
    xmp = (
        b"\x21\xff\x0bXMP DataXMP"
        + _sub_blocks(XMP)
        + b"\x21\xfe"
        + _sub_blocks(PLACE.encode())
    )
    # Before the trailer, and a stray copy after it.
    return data[:-1] + xmp + b";" + xmp


def _sub_blocks(data: bytes) -> bytes:
    out = bytearray()
    for start in range(0, len(data), 255):
        chunk = data[start : start + 255]
        out += bytes([len(chunk)]) + chunk
    return bytes(out + b"\0")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def webp_with_metadata(
    animated: bool = False, lossless: bool = False, orientation: int = 1
) -> bytes:
    """Return a WebP with EXIF (GPS included) and XMP chunks."""
    images = [two_halves((16, 12))] + [
        PILImage.new("RGB", (16, 12), (0, 60 * index, 200)) for index in (1, 2)
    ]
    buffer = io.BytesIO()
    options: dict = {
        "exif": gps_exif(orientation).tobytes(),
        "xmp": XMP,
        "lossless": lossless,
    }
    if animated:
        options.update(
            save_all=True, append_images=images[1:], duration=[100, 150, 200], loop=3
        )
    images[0].save(buffer, "WEBP", **options)
    return buffer.getvalue()


# -- hostile files -------------------------------------------------------------


def _lzw_run(count: int, min_code_size: int = 2, colour: int = 1) -> bytes:
    """Return GIF image data: ``count`` pixels of ``colour``, LZW-compressed.

    A run of one colour compresses to codes for ever longer runs (1, 2, 3 ...
    pixels), so 81 million pixels take about 50 KB.
    """
    clear = 1 << min_code_size
    out = bytearray()
    bits = 0
    pending = 0

    def emit(code: int, width: int) -> None:
        nonlocal bits, pending
        bits |= code << pending
        pending += width
        while pending >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            pending -= 8

    width = min_code_size + 1
    emit(clear, width)
    remaining = count
    while remaining:
        # After a clear code the decoder's table holds only the colours.
        codes = {1: colour}
        next_code = clear + 2
        width = min_code_size + 1
        previous = 0
        while remaining and next_code < 4000:
            # The decoder adds "previous run + one pixel" when it reads a code,
            # and the code may name that very entry.
            length = min(previous + 1, remaining) if previous else 1
            emit(codes.get(length, next_code), width)
            if previous:
                codes.setdefault(previous + 1, next_code)
                next_code += 1
                if next_code == 1 << width and width < 12:
                    width += 1
            remaining -= length
            previous = length
        if remaining:
            emit(clear, width)
    emit(clear + 1, width)  # end of information
    if pending:
        out.append(bits & 0xFF)
    return bytes([min_code_size]) + _sub_blocks(bytes(out))


def gif_frame_bomb(
    screen: tuple[int, int] = (1, 1), frames: list[tuple[int, int]] | None = None
) -> bytes:
    """Return a GIF whose logical screen is ``screen`` but whose frames are not.

    By default a 1×1 screen, a first frame of 1×1 and three of 9000×9000, each
    a valid, fully encoded image.
    """
    if frames is None:
        frames = [(1, 1)] + [(9000, 9000)] * 3
    header = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0)
    palette = b"\0\0\0\xff\xff\xff"
    body = b"".join(
        b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # 0.1 s per frame
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, width, height, 0)
        + _lzw_run(width * height)
        for width, height in frames
    )
    return header + palette + body + b";"


def same_picture(first: bytes, second: bytes, psnr: float = 40.0) -> bool:
    """Tell whether two files show the same picture, up to JPEG's rounding.

    ``psnr`` is the least peak signal-to-noise ratio, in dB, between them:
    above 40 dB no difference is visible.
    """
    with (
        PILImage.open(io.BytesIO(first)) as one,
        PILImage.open(io.BytesIO(second)) as other,
    ):
        if one.size != other.size:
            return False
        difference = ImageChops.difference(one.convert("RGB"), other.convert("RGB"))
    mean_square = sum(rms**2 for rms in ImageStat.Stat(difference).rms) / 3
    return mean_square == 0 or 10 * math.log10(255**2 / mean_square) >= psnr

"""Image files: decoded within limits, turned upright, stripped of metadata."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import pytest
from PIL import Image as PILImage

from homepage.core.imagefiles import ImageError, Limits, clean

from .image_files import (
    COMMENT,
    TRACES,
    gif_frame_bomb,
    gif_with_comment,
    gps_exif,
    photo,
    png_with_text,
    two_halves,
    webp_with_metadata,
)

LIMITS = Limits(pixels=50_000_000, frames=5000)


def pixels(data: bytes) -> list[bytes]:
    """Return the RGBA pixels of every frame of ``data``."""
    with PILImage.open(io.BytesIO(data)) as picture:
        frames = []
        for index in range(getattr(picture, "n_frames", 1)):
            picture.seek(index)
            frames.append(picture.convert("RGBA").tobytes())
        return frames


def turned(data: bytes) -> list[bytes]:
    """Return the pixels of every frame of ``data`` as orientation 6 shows them."""
    return [
        PILImage.frombytes("RGBA", size, frame)
        .transpose(PILImage.Transpose.ROTATE_270)
        .tobytes()
        for frame, size in zip(pixels(data), sizes(data), strict=True)
    ]


def sizes(data: bytes) -> list[tuple[int, int]]:
    with PILImage.open(io.BytesIO(data)) as picture:
        return [picture.size] * getattr(picture, "n_frames", 1)


def test_a_gif_frame_bomb_is_refused_before_any_frame_is_decoded(tmp_path):
    # Three 9000×9000 frames behind a 1×1 screen: decoding one takes 81
    # million bytes at least, and every frame took over 1 GB in all. Peak
    # memory shows whether any was decoded; the refusal must come first.
    bomb = tmp_path / "bomb.gif"
    bomb.write_bytes(gif_frame_bomb())
    script = textwrap.dedent(
        """
        import sys
        from homepage.core.imagefiles import ImageError, Limits, clean
        try:
            clean(open(sys.argv[1], "rb").read(), Limits(50_000_000, 5000))
        except ImageError as error:
            print(error.message)
        else:
            print("accepted")
        # VmHWM, the peak of this program alone: getrusage's ru_maxrss keeps
        # the peak of the process before exec, here the whole test run.
        with open("/proc/self/status") as status:
            print(next(l.split()[1] for l in status if l.startswith("VmHWM:")))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(bomb)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    message, peak_kib = result.stdout.splitlines()
    assert "a frame of it is 9000 × 9000" in message
    assert int(peak_kib) * 1024 < 300_000_000


@pytest.mark.parametrize(
    ("frames", "limit", "expected"),
    [
        # The first frame larger than the screen: Pillow grows the image at open.
        ([(9000, 9000)], 20_000_000, "a frame of it is 9000 × 9000"),
        # Frames within the limit one by one, but not all together.
        ([(1, 1)] + [(3000, 3000)] * 3, 20_000_000, "all frames together"),
        # Over Pillow's own limit, which warns before this site's check runs.
        ([(1, 1), (12000, 9000)], 10**9, "too many pixels"),
    ],
)
def test_frames_are_limited_one_by_one_and_together(frames, limit, expected):
    with pytest.raises(ImageError, match=expected):
        clean(gif_frame_bomb(frames=frames), Limits(pixels=limit, frames=10))


def test_frames_larger_than_the_screen_within_the_limits_are_accepted():
    data = gif_frame_bomb(screen=(10, 10), frames=[(1, 1), (20, 30)])
    cleaned = clean(data, LIMITS)
    assert pixels(cleaned.data) == pixels(data)


@pytest.mark.parametrize(
    "data",
    [
        png_with_text(),
        gif_with_comment(),
        webp_with_metadata(),
        webp_with_metadata(animated=True, lossless=True),
    ],
    ids=["png", "gif", "webp", "webp-animated"],
)
def test_stripping_keeps_every_pixel_and_is_stable(data):
    cleaned = clean(data, LIMITS)
    assert [trace for trace in TRACES if trace in cleaned.data] == []
    assert pixels(cleaned.data) == pixels(data)
    # Nothing left to strip: a second pass changes no byte.
    assert clean(cleaned.data, LIMITS).data == cleaned.data


def test_an_apng_keeps_its_frames_and_timing():
    frames = [two_halves((12, 8))] + [
        PILImage.new("RGB", (12, 8), (0, 80 * index, 0)) for index in (1, 2)
    ]
    buffer = io.BytesIO()
    frames[0].save(
        buffer, "PNG", save_all=True, append_images=frames[1:], duration=[50, 60, 70]
    )
    data = buffer.getvalue()
    cleaned = clean(data, LIMITS)
    assert cleaned.data == data  # nothing in it to strip
    assert pixels(cleaned.data) == pixels(data)


@pytest.mark.parametrize(
    ("data", "lossless"),
    [
        (png_with_text(orientation=6), True),
        (webp_with_metadata(lossless=True, orientation=6), True),
        (webp_with_metadata(animated=True, lossless=True, orientation=6), True),
        (webp_with_metadata(orientation=6), False),
    ],
    ids=["png", "webp-lossless", "webp-animated", "webp-lossy"],
)
def test_turned_png_and_webp_are_encoded_upright(data, lossless):
    cleaned = clean(data, LIMITS)
    assert (cleaned.width, cleaned.height) == sizes(data)[0][::-1]
    assert [trace for trace in TRACES if trace in cleaned.data] == []
    with PILImage.open(io.BytesIO(cleaned.data)) as picture:
        assert 0x0112 not in picture.getexif()
    if lossless:
        # A lossless source stays lossless: the turned pixels, exactly.
        assert pixels(cleaned.data) == turned(data)
    else:
        assert b"VP8 " in cleaned.data  # lossy, as the source was
        assert len(pixels(cleaned.data)) == 1


def test_an_animated_webp_turned_upright_keeps_its_timing():
    data = webp_with_metadata(animated=True, orientation=6)
    cleaned = clean(data, LIMITS)
    with (
        PILImage.open(io.BytesIO(data)) as sent,
        PILImage.open(io.BytesIO(cleaned.data)) as kept,
    ):
        assert (kept.n_frames, kept.info["loop"]) == (sent.n_frames, sent.info["loop"])
        for index in range(sent.n_frames):
            sent.seek(index)
            kept.seek(index)
            sent.load()
            kept.load()
            assert kept.info["duration"] == sent.info["duration"]


def test_a_photo_with_broken_exif_is_accepted_without_it():
    data = photo()
    start = data.index(b"Exif\0\0") + 6
    # An EXIF directory whose entry points past the end of the segment.
    broken = data[:start] + b"MM\0*\0\0\0\x08\xff\xff" + data[start + 10 :]
    cleaned = clean(broken, LIMITS)
    assert [trace for trace in TRACES if trace in cleaned.data] == []
    assert (cleaned.format, cleaned.width, cleaned.height) == ("JPEG", 64, 48)


def test_only_the_first_picture_of_an_mpo_is_kept():
    buffer = io.BytesIO()
    two_halves((32, 24)).save(
        buffer,
        "MPO",
        save_all=True,
        append_images=[two_halves((32, 24))],
        exif=gps_exif(),
        comment=COMMENT,
    )
    cleaned = clean(buffer.getvalue(), LIMITS)
    assert [trace for trace in TRACES if trace in cleaned.data] == []
    with PILImage.open(io.BytesIO(cleaned.data)) as picture:
        assert (picture.format, getattr(picture, "n_frames", 1)) == ("JPEG", 1)

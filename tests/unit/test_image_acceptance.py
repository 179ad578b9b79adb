"""Tests for the upload input policy; every fixture is built in memory."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import time
import zlib
from typing import Any

import pytest
from PIL import Image, ImageCms, ImageDraw, ImageFile, ImageOps, PngImagePlugin

from image_skill.imaging import acceptance
from image_skill.imaging.acceptance import (
    ALLOWED_MIME_TYPES,
    InputLimits,
    InputRejected,
    SanitizedImage,
    avif_supported,
    sanitize_image,
    sniff_mime,
    verify_declared,
)
from image_skill.imaging.limits import DecodeBudget
from tests.fakes.hostile_images import canvas_bomb_gif

needs_avif = pytest.mark.skipif(not avif_supported(), reason="Pillow built without AVIF")

# --------------------------------------------------------------------------------------------
# Fixture builders
# --------------------------------------------------------------------------------------------


def encode(im: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    im.save(out, format=fmt, **options)
    return out.getvalue()


def encode_animation(frames: list[Image.Image], fmt: str, **options: Any) -> bytes:
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], **options)


def two_tone(size: tuple[int, int] = (40, 20), mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue: lets tests see rotations."""
    im = Image.new(mode, size, "blue")
    ImageDraw.Draw(im).rectangle([0, 0, size[0] // 2 - 1, size[1] - 1], fill="red")
    return im


def coloured_frames(count: int = 3, size: tuple[int, int] = (32, 24)) -> list[Image.Image]:
    colours = ["red", "green", "blue", "yellow"]
    return [Image.new("RGB", size, colours[i % len(colours)]) for i in range(count)]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_header_only(width: int, height: int) -> bytes:
    """A structurally valid 1-bit PNG that *declares* a size; pixel data is a stub."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def gps_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Example Camera Co"  # Make
    exif[0x013B] = "Jane Doe"  # Artist
    if orientation is not None:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (40.0, 26.0, 46.0), 3: "W", 4: (79.0, 58.0, 56.0)})
    return exif


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def reopen(result: SanitizedImage) -> Image.Image:
    im = Image.open(io.BytesIO(result.data))
    im.load()
    return im


def rejected(data: bytes, limits: InputLimits | None = None) -> InputRejected:
    with pytest.raises(InputRejected) as info:
        sanitize_image(data, limits) if limits is not None else sanitize_image(data)
    return info.value


def close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 24) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------------------------
# sniff_mime
# --------------------------------------------------------------------------------------------


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00" * 16


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 8, "image/jpeg"),
        (b"GIF87a" + b"\x00" * 8, "image/gif"),
        (b"GIF89a" + b"\x00" * 8, "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (ftyp(b"avif", b"mif1", b"miaf"), "image/avif"),
        (ftyp(b"avis", b"msf1"), "image/avif"),
        (ftyp(b"mif1", b"miaf", b"avif"), "image/avif"),
        (ftyp(b"heic", b"mif1", b"heic"), None),
        (ftyp(b"isom", b"mp41"), None),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"<!DOCTYPE html><html></html>", None),
        (b"%PDF-1.7\n", None),
        (b"hello world", None),
        (b"\x89PNG", None),
        (b"", None),
    ],
)
def test_sniff_mime(data: bytes, expected: str | None) -> None:
    assert sniff_mime(data) == expected


def test_sniffed_types_are_exactly_the_allowed_ones() -> None:
    assert {"image/png", "image/jpeg", "image/webp", "image/gif", "image/avif"} == set(
        ALLOWED_MIME_TYPES
    )


# --------------------------------------------------------------------------------------------
# Accepting clean images
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mime", "extension"),
    [
        ("PNG", "image/png", "png"),
        ("JPEG", "image/jpeg", "jpg"),
        ("WEBP", "image/webp", "webp"),
        ("GIF", "image/gif", "gif"),
        pytest.param("AVIF", "image/avif", "avif", marks=needs_avif),
    ],
)
def test_clean_image_is_accepted_unchanged(fmt: str, mime: str, extension: str) -> None:
    data = encode(two_tone((40, 20)), fmt)
    result = sanitize_image(data)
    assert result.mime_type == mime
    assert result.extension == extension
    assert (result.width, result.height) == (40, 20)
    assert result.data == data
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.metadata_stripped is False


def test_clean_png_with_icc_and_transparency_is_unchanged() -> None:
    data = encode(Image.new("RGBA", (8, 8), (1, 2, 3, 0)), "PNG", icc_profile=srgb_icc())
    assert sanitize_image(data).data == data


def test_clean_jpeg_with_icc_profile_is_unchanged() -> None:
    data = encode(two_tone(), "JPEG", icc_profile=srgb_icc(), progressive=True)
    result = sanitize_image(data)
    assert result.data == data
    assert result.metadata_stripped is False


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_clean_animation_is_unchanged(fmt: str) -> None:
    data = encode_animation(coloured_frames(), fmt, duration=[100, 200, 300], loop=0)
    result = sanitize_image(data)
    assert result.data == data
    assert result.metadata_stripped is False
    assert (result.width, result.height) == (32, 24)


# --------------------------------------------------------------------------------------------
# Rejections
# --------------------------------------------------------------------------------------------

SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>'


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(SVG, id="svg-renamed-png"),
        pytest.param(b"<!DOCTYPE html><html><body>hi</body></html>", id="html"),
        pytest.param(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n", id="pdf"),
        pytest.param(b"just some text, named image.png", id="text"),
        pytest.param(random.Random(1234).randbytes(4096), id="random"),
        pytest.param(encode(two_tone(), "BMP"), id="bmp"),
        pytest.param(encode(two_tone(), "TIFF"), id="tiff"),
    ],
)
def test_non_images_are_unsupported(data: bytes) -> None:
    error = rejected(data)
    assert error.rule == "unsupported_format"
    assert error.message == "The uploaded bytes are not a PNG, JPEG, WebP, GIF or AVIF image."
    assert str(error) == error.message


def test_empty_upload() -> None:
    assert rejected(b"").rule == "empty"


def test_too_many_bytes() -> None:
    data = encode(two_tone(), "PNG")
    error = rejected(data, InputLimits(max_bytes=len(data) - 1))
    assert error.rule == "too_large"
    assert str(len(data)) in error.message


def test_truncated_png_is_corrupt() -> None:
    data = encode(Image.effect_noise((64, 64), 64).convert("RGB"), "PNG")
    assert rejected(data[: len(data) // 2]).rule == "corrupt_image"


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode(Image.effect_noise((64, 64), 64).convert("RGB"), "JPEG")
    assert rejected(data[: len(data) // 2]).rule == "corrupt_image"


def test_truncation_is_rejected_even_if_pillow_was_told_to_tolerate_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = encode(Image.effect_noise((64, 64), 64).convert("RGB"), "PNG")
    assert rejected(data[: len(data) // 2]).rule == "corrupt_image"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"garbage" * 20,
        b"\xff\xd8\xff" + b"garbage" * 20,
        b"GIF89a" + b"\x00" * 3,
        b"RIFF\x20\x00\x00\x00WEBPVP8 " + b"\x00" * 24,
    ],
)
def test_magic_bytes_with_garbage_are_corrupt(data: bytes) -> None:
    assert rejected(data).rule == "corrupt_image"


def test_decompression_bomb_past_pillow_guard_is_rejected_fast() -> None:
    bomb = png_header_only(20_000, 20_000)  # 400 Mpx declared, a few dozen bytes on the wire
    started = time.perf_counter()
    error = rejected(bomb, InputLimits(max_side=100_000))
    assert time.perf_counter() - started < 1.0
    assert error.rule == "too_many_pixels"


def test_decompression_bomb_pillow_warning_is_escalated() -> None:
    # 100 Mpx: above Pillow's warning threshold, below its hard error; our limit is higher
    # still, so only the escalated warning can stop it.
    limits = InputLimits(max_side=100_000, max_pixels=10**9, max_total_pixels=10**10)
    started = time.perf_counter()
    error = rejected(png_header_only(10_000, 10_000), limits)
    assert time.perf_counter() - started < 1.0
    assert error.rule == "too_many_pixels"


def test_pixel_limit_checked_from_header_before_decoding() -> None:
    started = time.perf_counter()
    error = rejected(png_header_only(7_000, 7_000))  # 49 Mpx, stub pixel data
    assert time.perf_counter() - started < 1.0
    assert error.rule == "too_many_pixels"
    assert error.message == "The image is 7000x7000 pixels; the limit is 40000000 pixels."


def test_side_limit() -> None:
    error = rejected(png_header_only(12_001, 1))
    assert error.rule == "dimensions_too_large"
    assert "12001x1" in error.message


def test_frame_limits() -> None:
    data = encode_animation(coloured_frames(3), "GIF", duration=100)
    assert rejected(data, InputLimits(max_frames=2)).rule == "too_many_frames"
    assert rejected(data, InputLimits(max_total_pixels=32 * 24 * 2)).rule == "too_many_pixels"


def test_avif_rejected_when_decoder_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acceptance, "avif_supported", lambda: False)
    error = rejected(ftyp(b"avif", b"mif1"))
    assert error.rule == "unsupported_format"
    assert "AVIF decoding is unavailable" in error.message


# --------------------------------------------------------------------------------------------
# Metadata stripping
# --------------------------------------------------------------------------------------------


def test_jpeg_gps_exif_is_stripped_and_icc_kept() -> None:
    icc = srgb_icc()
    data = encode(two_tone(), "JPEG", exif=gps_exif(), icc_profile=icc, comment=b"Jane's phone")
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # fixture really has GPS

    result = sanitize_image(data)
    out = reopen(result)
    assert result.metadata_stripped is True
    assert result.mime_type == "image/jpeg"
    assert out.format == "JPEG"
    assert len(out.getexif()) == 0
    assert "exif" not in out.info
    assert "comment" not in out.info
    assert b"Jane" not in result.data
    assert b"Example Camera" not in result.data
    assert out.info.get("icc_profile") == icc
    assert result.sha256 == hashlib.sha256(result.data).hexdigest()
    assert close(out.getpixel((5, 10)), (255, 0, 0))


def test_jpeg_xmp_is_stripped() -> None:
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>Jane Doe</dc:creator></x:xmpmeta>'
    result = sanitize_image(encode(two_tone(), "JPEG", xmp=xmp))
    assert result.metadata_stripped is True
    assert b"Jane Doe" not in result.data
    assert "xmp" not in reopen(result).info


def test_jpeg_orientation_is_applied_before_exif_is_dropped() -> None:
    data = encode(two_tone((40, 20)), "JPEG", exif=gps_exif(orientation=6), quality=95)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))

    result = sanitize_image(data)
    out = reopen(result)
    assert (result.width, result.height) == (20, 40) == out.size == expected.size
    assert len(out.getexif()) == 0
    # Orientation 6 = rotate 90 degrees clockwise for display: the red left half ends on top.
    assert close(out.getpixel((10, 5)), (255, 0, 0))
    assert close(out.getpixel((10, 35)), (0, 0, 255))


def test_jpeg_subsampling_is_kept() -> None:
    from PIL import JpegImagePlugin

    data = encode(two_tone(), "JPEG", exif=gps_exif(), subsampling="4:4:4")
    out = reopen(sanitize_image(data))
    assert isinstance(out, JpegImagePlugin.JpegImageFile)
    assert JpegImagePlugin.get_sampling(out) == 0


def test_png_text_chunks_are_stripped_losslessly() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_text("Comment", "taken at home", zip=True)
    info.add_itxt("Location", "40.4461N 79.9822W")
    source = two_tone(mode="RGBA")
    data = encode(source, "PNG", pnginfo=info)

    result = sanitize_image(data)
    out = reopen(result)
    assert result.metadata_stripped is True
    assert result.mime_type == "image/png"
    assert not {"Author", "Comment", "Location"} & set(out.info)
    assert b"Jane" not in result.data
    assert out.tobytes() == source.tobytes()


def test_png_exif_chunk_is_stripped_and_orientation_applied() -> None:
    data = encode(two_tone((40, 20)), "PNG", exif=gps_exif(orientation=8))
    result = sanitize_image(data)
    out = reopen(result)
    assert result.metadata_stripped is True
    assert len(out.getexif()) == 0
    assert out.size == (20, 40)
    # Orientation 8 = rotate 90 degrees counter-clockwise: the red left half ends at bottom.
    assert out.convert("RGB").getpixel((10, 35)) == (255, 0, 0)


def test_png_palette_transparency_survives_re_encode() -> None:
    im = Image.new("P", (8, 8), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    im.putpixel((1, 1), 1)
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    out = reopen(sanitize_image(encode(im, "PNG", transparency=0, pnginfo=info)))
    assert out.convert("RGBA").getpixel((0, 0))[3] == 0
    assert out.convert("RGBA").getpixel((1, 1)) == (255, 0, 0, 255)


def test_png_trailing_payload_is_dropped() -> None:
    data = encode(two_tone(), "PNG") + b"PK\x03\x04 hidden zip payload"
    result = sanitize_image(data)
    assert result.metadata_stripped is True
    assert result.data.endswith(png_chunk(b"IEND", b""))
    assert b"hidden" not in result.data


def test_jpeg_trailing_payload_is_dropped() -> None:
    data = encode(two_tone(), "JPEG") + b"<script>alert(1)</script>"
    result = sanitize_image(data)
    assert result.metadata_stripped is True
    assert result.data.endswith(b"\xff\xd9")
    assert b"script" not in result.data


def test_lossless_webp_exif_and_xmp_are_stripped_losslessly() -> None:
    source = two_tone(mode="RGBA")
    source.putpixel((0, 0), (10, 20, 30, 128))
    data = encode(source, "WEBP", lossless=True, exif=gps_exif(), xmp=b"<x>Jane Doe</x>")
    result = sanitize_image(data)
    out = reopen(result)
    assert result.metadata_stripped is True
    assert result.mime_type == "image/webp"
    assert "exif" not in out.info
    assert "xmp" not in out.info
    assert b"Jane" not in result.data
    assert b"VP8L" in result.data
    assert out.tobytes() == source.tobytes()


def test_lossy_webp_exif_is_stripped_and_stays_lossy() -> None:
    data = encode(two_tone(), "WEBP", quality=80, exif=gps_exif())
    result = sanitize_image(data)
    assert result.metadata_stripped is True
    assert b"VP8L" not in result.data
    assert "exif" not in reopen(result).info


def frame_durations(im: Image.Image) -> list[int]:
    durations = []
    for index in range(getattr(im, "n_frames", 1)):
        im.seek(index)
        im.load()
        durations.append(round(im.info.get("duration", 0)))
    return durations


def test_animated_gif_comment_is_stripped_and_frames_kept() -> None:
    data = encode_animation(
        coloured_frames(3), "GIF", duration=[100, 200, 300], loop=0, comment=b"Jane Doe"
    )
    result = sanitize_image(data)
    out = reopen(result)
    assert result.metadata_stripped is True
    assert b"Jane" not in result.data
    assert "comment" not in out.info
    assert getattr(out, "n_frames", 1) == 3
    assert out.info.get("loop") == 0
    assert frame_durations(out) == [100, 200, 300]


def test_animated_webp_metadata_is_stripped_and_frames_kept() -> None:
    data = encode_animation(
        coloured_frames(3), "WEBP", duration=[100, 200, 300], loop=2, exif=gps_exif()
    )
    result = sanitize_image(data)
    out = reopen(result)
    assert result.metadata_stripped is True
    assert "exif" not in out.info
    assert getattr(out, "n_frames", 1) == 3
    assert out.info.get("loop") == 2
    assert frame_durations(out) == [100, 200, 300]


def test_animated_png_text_is_stripped_and_frames_kept() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    data = encode_animation(coloured_frames(3), "PNG", duration=[100, 200, 300], pnginfo=info)
    result = sanitize_image(data)
    out = reopen(result)
    assert result.metadata_stripped is True
    assert b"Jane" not in result.data
    assert getattr(out, "n_frames", 1) == 3
    assert frame_durations(out) == [100, 200, 300]


@needs_avif
def test_avif_exif_is_stripped_and_orientation_applied() -> None:
    data = encode(two_tone((40, 20)), "AVIF", exif=gps_exif(orientation=6), quality=90)
    result = sanitize_image(data)
    out = reopen(result)
    assert result.metadata_stripped is True
    assert result.mime_type == "image/avif"
    assert "exif" not in out.info
    assert out.size == (20, 40)
    assert close(out.convert("RGB").getpixel((10, 5)), (255, 0, 0), tolerance=40)


# --------------------------------------------------------------------------------------------
# verify_declared
# --------------------------------------------------------------------------------------------

PAYLOAD = b"some uploaded bytes"
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.mark.parametrize(
    ("length", "digest"),
    [
        (None, None),
        (len(PAYLOAD), None),
        (None, PAYLOAD_SHA),
        (len(PAYLOAD), PAYLOAD_SHA.upper()),
    ],
)
def test_verify_declared_accepts_matching_values(length: int | None, digest: str | None) -> None:
    verify_declared(PAYLOAD, declared_length=length, declared_sha256=digest)


@pytest.mark.parametrize(
    ("length", "digest", "rule"),
    [
        (len(PAYLOAD) + 1, None, "length_mismatch"),
        (0, PAYLOAD_SHA, "length_mismatch"),
        (None, hashlib.sha256(b"other").hexdigest(), "sha256_mismatch"),
        (len(PAYLOAD), "not-a-digest", "sha256_mismatch"),
        (None, PAYLOAD_SHA[:-1], "sha256_mismatch"),
    ],
)
def test_verify_declared_rejects_mismatches(
    length: int | None, digest: str | None, rule: str
) -> None:
    with pytest.raises(InputRejected) as info:
        verify_declared(PAYLOAD, declared_length=length, declared_sha256=digest)
    assert info.value.rule == rule
    assert PAYLOAD.decode() not in info.value.message


# --------------------------------------------------------------------------------------------
# Decode bounds: total pixels across frames, frame count, time, what a re-encode may hold
# --------------------------------------------------------------------------------------------


def test_canvas_bomb_gif_is_refused_before_any_frame_is_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = canvas_bomb_gif(199, 1000)  # ~5 KB; 199 Mpx decoded (the old path held ~800 MB)
    assert len(bomb) < 10_000
    loads: list[int] = []
    real_load = ImageFile.ImageFile.load

    def counting_load(self: ImageFile.ImageFile) -> Any:
        loads.append(1)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    started = time.perf_counter()
    error = rejected(bomb)
    assert time.perf_counter() - started < 0.5
    assert error.rule == "too_many_pixels"
    assert "199 frames of 1000x1000" in error.message and "120000000" in error.message
    assert loads == []


def test_gif_frames_are_counted_without_walking_the_whole_file() -> None:
    many = canvas_bomb_gif(800_000, 1, comment=False)  # ~18 MB of 1-pixel frames
    started = time.perf_counter()
    error = rejected(many)
    assert time.perf_counter() - started < 1.0
    assert error.rule == "too_many_frames"
    assert "limit is 1000 frames" in error.message


def test_each_frame_is_charged_before_it_is_decoded() -> None:
    budget = DecodeBudget(InputLimits(max_total_pixels=250, max_frames=10))
    budget.check_declared(2, 10, 10)
    budget.charge_frame(10, 10)
    budget.charge_frame(10, 10)
    with pytest.raises(InputRejected) as info:
        budget.charge_frame(10, 10)  # 300 > 250: refused before this frame's decode
    assert info.value.rule == "too_many_pixels" and "250" in info.value.message
    assert (budget.frames, budget.pixels) == (2, 200)


def test_decode_deadline_is_checked_between_frames() -> None:
    now = [0.0]
    budget = DecodeBudget(InputLimits(decode_seconds=5), clock=lambda: now[0])
    budget.charge_frame(10, 10)
    now[0] = 5.5
    with pytest.raises(InputRejected) as info:
        budget.charge_frame(10, 10)
    assert info.value.rule == "decode_timeout"
    assert info.value.message == "Decoding the image took longer than the limit of 5 seconds."


def test_slow_decode_is_stopped_by_the_time_limit() -> None:
    data = encode_animation(coloured_frames(40, (64, 64)), "GIF", duration=50)
    assert sanitize_image(data).metadata_stripped is False  # fine with the default limit
    error = rejected(data, InputLimits(decode_seconds=1e-9))
    assert error.rule == "decode_timeout"


def test_reencode_holds_at_most_one_large_pictures_worth_of_frames() -> None:
    limits = InputLimits(max_pixels=25_000)
    accepted = sanitize_image(canvas_bomb_gif(2, 100), limits)  # 20,000 px held
    assert accepted.metadata_stripped is True
    with Image.open(io.BytesIO(accepted.data)) as im:
        assert im.size == (100, 100) and im.n_frames >= 1
    error = rejected(canvas_bomb_gif(3, 100), limits)  # 30,000 px to hold
    assert error.rule == "too_many_pixels" and "re-encoding" in error.message
    # The same frames without metadata are validated one at a time, never held.
    assert sanitize_image(canvas_bomb_gif(3, 100, comment=False), limits).metadata_stripped is False

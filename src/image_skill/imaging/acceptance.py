"""Decide whether uploaded bytes are an acceptable image and produce the bytes to store.

The policy is deliberately paranoid about its input:

* The format is taken from the magic bytes only (:mod:`image_skill.imaging.sniff`); a
  declared MIME type or filename is never trusted, so SVG, HTML, PDF or text renamed to
  ``.png`` is rejected.
* Pillow is restricted to the sniffed format. Every frame is paid for before it is decoded
  (:class:`~image_skill.imaging.limits.DecodeBudget`): the canvas against the per-frame
  limits, the frame count the container declares against the total-pixel limit, and then
  each frame, one at a time, against the running total and the time limit. Pillow's own
  bomb threshold is applied per call as a second line (never by changing its globals).
* Frames are decoded one at a time and dropped unless a re-encode needs them, with
  ``ImageFile.LOAD_TRUNCATED_IMAGES`` off, so truncated or corrupt data is rejected instead
  of silently padded.
* The container structure is walked against an allowlist of rendering-only chunks/segments/
  boxes (:mod:`image_skill.imaging.structure`). Anything else causes a re-encode in the same
  format with only pixels, ICC profile, transparency and animation timing kept
  (:mod:`image_skill.imaging.reencode`); EXIF orientation is applied to the pixels first.
  A clean upload is stored byte-for-byte.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
from dataclasses import dataclass

from PIL import Image, ImageFile, JpegImagePlugin, features

from image_skill.imaging.limits import DecodeBudget, InputLimits, InputRejected
from image_skill.imaging.reencode import Decoded, encode
from image_skill.imaging.sniff import ALLOWED_MIME_TYPES, sniff_mime
from image_skill.imaging.structure import gif_frame_count, scan_structure

__all__ = [
    "ALLOWED_MIME_TYPES",
    "InputLimits",
    "InputRejected",
    "SanitizedImage",
    "avif_supported",
    "sanitize_image",
    "sniff_mime",
    "verify_declared",
]


@dataclass(frozen=True)
class SanitizedImage:
    """The bytes to store for an accepted upload, and what is known about them."""

    data: bytes
    mime_type: str
    extension: str
    width: int
    height: int
    sha256: str
    metadata_stripped: bool


_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def verify_declared(
    data: bytes, *, declared_length: int | None, declared_sha256: str | None
) -> None:
    """Check the bytes against the length and SHA-256 the client declared (None = skip)."""
    if declared_length is not None and declared_length != len(data):
        raise InputRejected(
            "length_mismatch",
            f"The upload is {len(data)} bytes but {declared_length} bytes were declared.",
        )
    if declared_sha256 is not None:
        if _HEX_SHA256.fullmatch(declared_sha256) is None:
            raise InputRejected(
                "sha256_mismatch", "The declared SHA-256 digest is not a 64-character hex string."
            )
        actual = hashlib.sha256(data).hexdigest()
        if not hmac.compare_digest(actual, declared_sha256.lower()):
            raise InputRejected(
                "sha256_mismatch", "The uploaded bytes do not match the declared SHA-256 digest."
            )


@dataclass(frozen=True)
class _Format:
    mime_type: str
    extension: str
    pillow: str
    animated: bool  # whether the format can carry several frames we must keep


_FORMATS: dict[str, _Format] = {
    "image/png": _Format("image/png", "png", "PNG", animated=True),
    "image/jpeg": _Format("image/jpeg", "jpg", "JPEG", animated=False),
    "image/webp": _Format("image/webp", "webp", "WEBP", animated=True),
    "image/gif": _Format("image/gif", "gif", "GIF", animated=True),
    "image/avif": _Format("image/avif", "avif", "AVIF", animated=True),
}

# Rules about what the bytes are (a file that is no image, or a broken one), as
# opposed to policy bounds on an image's size: callers report them as input errors.
FORMAT_RULES = frozenset({"empty", "unsupported_format", "corrupt_image"})

_UNSUPPORTED_MESSAGE = "The uploaded bytes are not a PNG, JPEG, WebP, GIF or AVIF image."
_AVIF_UNAVAILABLE_MESSAGE = "AVIF decoding is unavailable on this server."
_CORRUPT_MESSAGE = "The image data is corrupt or truncated and could not be decoded."


def avif_supported() -> bool:
    """Whether this Pillow build can decode (and re-encode) AVIF."""
    try:
        return bool(features.check_module("avif"))
    except ValueError:  # Pillow < 11.2 does not know the module at all
        return False


def sanitize_image(data: bytes, limits: InputLimits = InputLimits()) -> SanitizedImage:
    """Validate ``data`` as an image and return the sanitized bytes to store.

    Raises :class:`InputRejected` with one of the rules ``empty``, ``too_large``,
    ``unsupported_format``, ``corrupt_image``, ``dimensions_too_large``, ``too_many_pixels``,
    ``too_many_frames`` or ``decode_timeout``. Blocking: run it in a worker thread.
    """
    if not data:
        raise InputRejected("empty", "The upload is empty.")
    if len(data) > limits.max_bytes:
        raise InputRejected(
            "too_large", f"The upload is {len(data)} bytes; the limit is {limits.max_bytes} bytes."
        )
    mime_type = sniff_mime(data)
    if mime_type is None:
        raise InputRejected("unsupported_format", _UNSUPPORTED_MESSAGE)
    fmt = _FORMATS[mime_type]
    if fmt.pillow == "AVIF" and not avif_supported():
        raise InputRejected("unsupported_format", _AVIF_UNAVAILABLE_MESSAGE)

    budget = DecodeBudget(limits)
    decoded = _decode(data, fmt, budget)
    if decoded.frames is None:
        return SanitizedImage(
            data=data,
            mime_type=fmt.mime_type,
            extension=fmt.extension,
            width=decoded.width,
            height=decoded.height,
            sha256=hashlib.sha256(data).hexdigest(),
            metadata_stripped=False,
        )
    budget.check_time()
    out = encode(fmt.pillow, decoded)
    width, height = decoded.frames[0].size
    return SanitizedImage(
        data=out,
        mime_type=fmt.mime_type,
        extension=fmt.extension,
        width=width,
        height=height,
        sha256=hashlib.sha256(out).hexdigest(),
        metadata_stripped=True,
    )


# Keys Pillow puts in ``info`` for metadata we never keep as-is.
_METADATA_INFO_KEYS = frozenset({"exif", "xmp", "XML:com.adobe.xmp", "comment", "photoshop"})

_ORIENTATION_TAG = 0x0112
_TRANSPOSE_FOR_ORIENTATION: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _decode(data: bytes, fmt: _Format, budget: DecodeBudget) -> Decoded:
    # Strict decoding is a precondition of this policy: a truncated upload must be rejected,
    # never padded with grey. The flag is process-global in Pillow, so enforce it here.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(io.BytesIO(data), formats=[fmt.pillow]) as im:
            return _decode_open(im, data, fmt, budget)
    except InputRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Only raised when warnings are errors in this process; the explicit check in
        # _check_canvas refuses the same images either way.
        raise InputRejected(
            "too_many_pixels",
            f"The image exceeds the limit of {budget.limits.max_pixels} pixels.",
        ) from None
    except Exception as exc:  # any failure to parse untrusted bytes means "corrupt"
        raise InputRejected("corrupt_image", _CORRUPT_MESSAGE) from exc


def _check_canvas(width: int, height: int, budget: DecodeBudget) -> None:
    if width < 1 or height < 1:
        raise InputRejected("corrupt_image", _CORRUPT_MESSAGE)
    budget.check_frame_size(width, height)
    pillow_bound = Image.MAX_IMAGE_PIXELS  # Pillow's bomb threshold, read, never changed
    if pillow_bound is not None and width * height > pillow_bound:
        raise InputRejected(
            "too_many_pixels",
            f"The image is {width}x{height} pixels; the limit is {pillow_bound} pixels.",
        )


def _declared_frames(im: ImageFile.ImageFile, data: bytes, fmt: _Format, limit: int) -> int:
    """Frames the container says it holds, read without decoding any of them."""
    if not fmt.animated:
        return 1
    if fmt.pillow == "GIF":
        return max(gif_frame_count(data, stop_after=limit + 1), 1)
    return int(getattr(im, "n_frames", 1))  # APNG acTL, WebP/AVIF demuxer: header reads


def _decode_open(
    im: ImageFile.ImageFile,
    data: bytes,
    fmt: _Format,
    budget: DecodeBudget,
) -> Decoded:
    # 1. Header-only checks, before any pixel data is decoded (and before the structure
    #    walk, which is linear in the file's blocks).
    width, height = im.size
    _check_canvas(width, height, budget)
    n_frames = _declared_frames(im, data, fmt, budget.limits.max_frames)
    budget.check_declared(n_frames, width, height)
    structurally_clean, webp_lossless = scan_structure(fmt.pillow, data)
    collect_frames = not structurally_clean

    # 2. Decode the first frame; some metadata (e.g. PNG chunks after IDAT) only shows up now.
    budget.charge_frame(width, height)
    im.load()
    needs_reencode = collect_frames or any(key in im.info for key in _METADATA_INFO_KEYS)
    decoded = Decoded(
        width=width,
        height=height,
        frames=[] if needs_reencode else None,
        loop=im.info.get("loop") if isinstance(im.info.get("loop"), int) else None,
        background=im.info.get("background"),
        transparency=im.info.get("transparency"),
        icc_profile=_icc_profile(im),
        jpeg_subsampling=_jpeg_subsampling(im),
        jpeg_progressive=bool(im.info.get("progressive") or im.info.get("progression")),
        webp_lossless=webp_lossless,
    )
    transpose = _TRANSPOSE_FOR_ORIENTATION.get(_orientation(im)) if needs_reencode else None

    # 3. Every frame, one at a time, paid for before it is decoded (some decoders decode in
    #    seek); only a re-encode keeps clean copies, and those are bounded separately.
    for index in range(n_frames):
        if index:
            budget.charge_frame(*im.size)
            im.seek(index)
            im.load()
        if decoded.frames is not None:
            _keep_frame(decoded, im, transpose, budget.limits)
    return decoded


def _keep_frame(
    decoded: Decoded, im: Image.Image, transpose: Image.Transpose | None, limits: InputLimits
) -> None:
    """Hold a metadata-free copy of the current frame for the re-encode.

    The encoders need every frame at once, so what a re-encode may hold is bounded by
    the per-frame pixel limit summed over the frames (one large picture's worth).
    """
    frames = decoded.frames
    assert frames is not None
    held = sum(f.width * f.height for f in frames) + im.width * im.height
    if held > limits.max_pixels:
        raise InputRejected(
            "too_many_pixels",
            f"The animation carries metadata that must be stripped by re-encoding, which is "
            f"limited to {limits.max_pixels} pixels across all frames; upload it without "
            "metadata (comments, XMP, EXIF) or with fewer or smaller frames.",
        )
    frame = im.transpose(transpose) if transpose is not None else im.copy()
    frame.info = {"transparency": im.info["transparency"]} if "transparency" in im.info else {}
    frames.append(frame)
    decoded.durations.append(_duration(im.info.get("duration")))


def _icc_profile(im: Image.Image) -> bytes | None:
    icc = im.info.get("icc_profile")
    return icc if isinstance(icc, bytes) and icc else None


def _jpeg_subsampling(im: Image.Image) -> int:
    if isinstance(im, JpegImagePlugin.JpegImageFile):
        try:
            return JpegImagePlugin.get_sampling(im)
        except Exception:
            return -1
    return -1


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # malformed EXIF: it is dropped anyway, keep the pixels as stored
        return 1
    return value if isinstance(value, int) else 1


def _duration(value: object) -> int:
    if isinstance(value, int | float) and value >= 0:
        return round(value)
    return 0

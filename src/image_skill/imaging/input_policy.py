"""Decide whether uploaded bytes are an acceptable image and produce the bytes to store.

The policy is deliberately paranoid about its input:

* The format is taken from the magic bytes only; a declared MIME type or filename is never
  trusted, so SVG, HTML, PDF or text renamed to ``.png`` is rejected.
* Pillow is restricted to the sniffed format, and the dimensions read from the header are
  checked against :class:`InputLimits` *before* any pixel data is decoded (decompression
  bomb defense). Pillow's own bomb guard is escalated to an error as a second line.
* Every frame is fully decoded with ``ImageFile.LOAD_TRUNCATED_IMAGES`` off, so truncated or
  corrupt data is rejected instead of silently padded.
* The container structure is walked against an allowlist of rendering-only chunks/segments/
  boxes. Anything else (EXIF, XMP, text/comment chunks, IPTC, MPF, unknown chunks, bytes
  after the end of the image) causes a re-encode in the same format with only pixels, ICC
  profile, transparency and animation timing kept; EXIF orientation is applied to the
  pixels first. A clean upload is stored byte-for-byte.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFile, JpegImagePlugin, features

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

ALLOWED_MIME_TYPES: frozenset[str] = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/gif", "image/avif"}
)


@dataclass(frozen=True)
class InputLimits:
    """Upper bounds applied to an upload before and while it is decoded."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000  # width * height of one frame
    max_side: int = 12_000
    max_frames: int = 1_000
    max_total_pixels: int = 200_000_000  # width * height summed over all frames


class InputRejected(Exception):
    """The upload is not an acceptable image.

    ``rule`` is a stable machine-readable name; ``message`` is safe to show to the caller
    (it never contains the filename, the bytes, or server paths).
    """

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message

    def __repr__(self) -> str:
        return f"InputRejected(rule={self.rule!r}, message={self.message!r})"


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


# --------------------------------------------------------------------------------------------
# Declared length / digest
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Magic-byte sniffing
# --------------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_AVIF_BRANDS = frozenset({b"avif", b"avis"})


def sniff_mime(data: bytes) -> str | None:
    """Return the MIME type implied by the magic bytes, or None if not an allowed format."""
    if data.startswith(_PNG_SIGNATURE):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if _is_avif(data):
        return "image/avif"
    return None


def _is_avif(data: bytes) -> bool:
    """ISO-BMFF ``ftyp`` box first, with brand avif/avis as major or compatible brand."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    size = int.from_bytes(data[:4], "big")
    if size < 16 or size > len(data) or size % 4:
        return False
    if data[8:12] in _AVIF_BRANDS:
        return True
    return any(data[i : i + 4] in _AVIF_BRANDS for i in range(16, size, 4))


# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------


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

_UNSUPPORTED_MESSAGE = "The uploaded bytes are not a PNG, JPEG, WebP, GIF or AVIF image."
_AVIF_UNAVAILABLE_MESSAGE = "AVIF decoding is unavailable on this server."
_CORRUPT_MESSAGE = "The image data is corrupt or truncated and could not be decoded."


def avif_supported() -> bool:
    """Whether this Pillow build can decode (and re-encode) AVIF."""
    try:
        return bool(features.check_module("avif"))
    except ValueError:  # Pillow < 11.2 does not know the module at all
        return False


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def sanitize_image(data: bytes, limits: InputLimits = InputLimits()) -> SanitizedImage:
    """Validate ``data`` as an image and return the sanitized bytes to store.

    Raises :class:`InputRejected` with one of the rules ``empty``, ``too_large``,
    ``unsupported_format``, ``corrupt_image``, ``dimensions_too_large``, ``too_many_pixels``
    or ``too_many_frames``.
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

    structurally_clean, webp_lossless = _scan_structure(fmt, data)
    decoded = _decode(data, fmt, limits, collect_frames=not structurally_clean)
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
    out = _encode(fmt, decoded, webp_lossless=webp_lossless)
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


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------

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


@dataclass
class _Decoded:
    width: int
    height: int
    # Metadata-free copies of every frame (orientation applied) when a re-encode is needed;
    # None when the original bytes can be stored unchanged.
    frames: list[Image.Image] | None
    durations: list[int]
    loop: int | None
    background: Any
    transparency: Any
    icc_profile: bytes | None
    jpeg_subsampling: int
    jpeg_progressive: bool


def _decode(data: bytes, fmt: _Format, limits: InputLimits, *, collect_frames: bool) -> _Decoded:
    # Strict decoding is a precondition of this policy: a truncated upload must be rejected,
    # never padded with grey. The flag is process-global in Pillow, so enforce it here.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[fmt.pillow]) as im:
                return _decode_open(im, fmt, limits, collect_frames=collect_frames)
        except InputRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputRejected(
                "too_many_pixels",
                f"The image exceeds the limit of {limits.max_pixels} pixels.",
            ) from None
        except Exception as exc:  # any failure to parse untrusted bytes means "corrupt"
            raise InputRejected("corrupt_image", _CORRUPT_MESSAGE) from exc


def _decode_open(
    im: ImageFile.ImageFile, fmt: _Format, limits: InputLimits, *, collect_frames: bool
) -> _Decoded:
    # 1. Header-only checks, before any pixel data is decoded.
    width, height = im.size
    if width < 1 or height < 1:
        raise InputRejected("corrupt_image", _CORRUPT_MESSAGE)
    if width > limits.max_side or height > limits.max_side:
        raise InputRejected(
            "dimensions_too_large",
            f"The image is {width}x{height} pixels; the longest side may be at most "
            f"{limits.max_side} pixels.",
        )
    if width * height > limits.max_pixels:
        raise InputRejected(
            "too_many_pixels",
            f"The image is {width}x{height} pixels; the limit is {limits.max_pixels} pixels.",
        )
    n_frames = int(getattr(im, "n_frames", 1)) if fmt.animated else 1
    if n_frames > limits.max_frames:
        raise InputRejected(
            "too_many_frames",
            f"The animation has {n_frames} frames; the limit is {limits.max_frames} frames.",
        )
    if n_frames * width * height > limits.max_total_pixels:
        raise InputRejected(
            "too_many_pixels",
            f"The animation has {n_frames} frames of {width}x{height} pixels; the limit is "
            f"{limits.max_total_pixels} pixels across all frames.",
        )

    # 2. Decode the first frame; some metadata (e.g. PNG chunks after IDAT) only shows up now.
    im.load()
    needs_reencode = collect_frames or any(key in im.info for key in _METADATA_INFO_KEYS)
    decoded = _Decoded(
        width=width,
        height=height,
        frames=None,
        durations=[],
        loop=im.info.get("loop") if isinstance(im.info.get("loop"), int) else None,
        background=im.info.get("background"),
        transparency=im.info.get("transparency"),
        icc_profile=_icc_profile(im),
        jpeg_subsampling=_jpeg_subsampling(im),
        jpeg_progressive=bool(im.info.get("progressive") or im.info.get("progression")),
    )
    transpose = _TRANSPOSE_FOR_ORIENTATION.get(_orientation(im)) if needs_reencode else None

    # 3. Decode every frame (validates the whole file); keep clean copies if re-encoding.
    frames: list[Image.Image] = []
    for index in range(n_frames):
        if index:
            im.seek(index)
            im.load()
        if needs_reencode:
            frame = im.transpose(transpose) if transpose is not None else im.copy()
            frame.info = (
                {"transparency": im.info["transparency"]} if "transparency" in im.info else {}
            )
            frames.append(frame)
            decoded.durations.append(_duration(im.info.get("duration")))
    if needs_reencode:
        decoded.frames = frames
    return decoded


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


# --------------------------------------------------------------------------------------------
# Re-encoding without metadata
# --------------------------------------------------------------------------------------------


def _encode(fmt: _Format, decoded: _Decoded, *, webp_lossless: bool) -> bytes:
    frames = decoded.frames
    if not frames:
        raise ValueError("no frames to encode")
    first = frames[0]
    options: dict[str, Any] = {}
    if decoded.icc_profile is not None and fmt.pillow != "GIF":
        options["icc_profile"] = decoded.icc_profile

    if fmt.pillow == "JPEG":
        options["quality"] = 95
        if decoded.jpeg_subsampling >= 0:
            options["subsampling"] = decoded.jpeg_subsampling
        if decoded.jpeg_progressive:
            options["progressive"] = True
        if first.mode not in ("1", "L", "RGB", "CMYK"):
            first = first.convert("RGB")
    elif fmt.pillow == "PNG":
        options["compress_level"] = 3
    elif fmt.pillow == "WEBP":
        if webp_lossless:
            options.update(lossless=True, exact=True)
        else:
            options["quality"] = 95
        if isinstance(decoded.background, tuple):
            options["background"] = decoded.background
    elif fmt.pillow == "GIF":
        if decoded.transparency is not None:
            options["transparency"] = decoded.transparency
            # Pillow hands out fully composited frames; clear to transparent between them
            # so transparent areas do not show the previous frame.
            options["disposal"] = 2
    elif fmt.pillow == "AVIF":
        options["quality"] = 95

    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:], duration=decoded.durations)
        if fmt.pillow == "GIF":
            if decoded.loop is not None:
                options["loop"] = decoded.loop
        elif fmt.pillow in ("PNG", "WEBP"):
            options["loop"] = decoded.loop if decoded.loop is not None else 0
    elif fmt.pillow == "GIF" and decoded.durations and decoded.durations[0]:
        options["duration"] = decoded.durations[0]

    out = io.BytesIO()
    first.save(out, format=fmt.pillow, **options)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Container structure scanning
#
# Each scanner returns True only if it positively walked the whole file and found nothing but
# allowlisted rendering structures. Any anomaly (unknown chunk, metadata, trailing bytes,
# malformed framing) returns False, which just means "re-encode"; scanners never raise.
# --------------------------------------------------------------------------------------------


def _scan_structure(fmt: _Format, data: bytes) -> tuple[bool, bool]:
    """Return (clean, webp_lossless)."""
    if fmt.pillow == "WEBP":
        return _scan_webp(data)
    scanner: Callable[[bytes], bool] = {
        "PNG": _png_is_clean,
        "JPEG": _jpeg_is_clean,
        "GIF": _gif_is_clean,
        "AVIF": _avif_is_clean,
    }[fmt.pillow]
    return scanner(data), False


_PNG_RENDERING_CHUNKS = frozenset(
    {
        b"IHDR",
        b"PLTE",
        b"IDAT",
        b"IEND",
        b"tRNS",
        b"cHRM",
        b"gAMA",
        b"iCCP",
        b"sBIT",
        b"sRGB",
        b"cICP",
        b"mDCV",
        b"mDCv",
        b"cLLI",
        b"cLLi",
        b"bKGD",
        b"hIST",
        b"pHYs",
        b"sPLT",
        b"acTL",
        b"fcTL",
        b"fdAT",
    }
)


def _png_is_clean(data: bytes) -> bool:
    pos, n = len(_PNG_SIGNATURE), len(data)
    while pos + 12 <= n:
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunk_type = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > n or chunk_type not in _PNG_RENDERING_CHUNKS:
            return False
        if chunk_type == b"IEND":
            return end == n  # bytes after IEND are a hiding place (polyglots)
        pos = end
    return False


# JPEG markers that carry only what is needed to render the picture.
_JPEG_SOF = frozenset({*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), 0xCD, 0xCE})
_JPEG_TABLES = frozenset({0xC4, 0xCC, 0xDB, 0xDD, 0xDC})  # DHT, DAC, DQT, DRI, DNL
_JPEG_APP_ALLOWED = {0xE0: b"JFIF\x00", 0xE2: b"ICC_PROFILE\x00", 0xEE: b"Adobe"}


def _jpeg_is_clean(data: bytes) -> bool:
    n = len(data)
    pos = 2  # after SOI
    while True:
        if pos + 2 > n or data[pos] != 0xFF:
            return False
        while pos + 1 < n and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        if pos + 2 > n:
            return False
        marker = data[pos + 1]
        if marker == 0xD9:  # EOI
            return pos + 2 == n  # trailing bytes (e.g. MPO images, appended payloads)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn / TEM: no length
            pos += 2
            continue
        if pos + 4 > n:
            return False
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > n:
            return False
        payload = data[pos + 4 : end]
        if marker in _JPEG_APP_ALLOWED:
            if not payload.startswith(_JPEG_APP_ALLOWED[marker]):
                return False
        elif marker not in _JPEG_SOF and marker not in _JPEG_TABLES and marker != 0xDA:
            return False  # APPn (EXIF, XMP, IPTC, MPF, ...), COM, or anything unexpected
        pos = end
        if marker == 0xDA:  # SOS: skip entropy-coded data up to the next real marker
            pos = _jpeg_skip_entropy(data, pos)
            if pos < 0:
                return False


def _jpeg_skip_entropy(data: bytes, pos: int) -> int:
    n = len(data)
    i = data.find(b"\xff", pos)
    while 0 <= i < n - 1:
        following = data[i + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            i = data.find(b"\xff", i + 1)
            continue
        return i
    return -1


def _gif_skip_sub_blocks(data: bytes, pos: int) -> int:
    n = len(data)
    while pos < n:
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos if pos <= n else -1
    return -1


_GIF_ALLOWED_APPLICATIONS = frozenset({b"NETSCAPE2.0", b"ANIMEXTS1.0"})


def _gif_is_clean(data: bytes) -> bool:
    n = len(data)
    if n < 13:
        return False
    pos = 13
    if data[10] & 0x80:
        pos += 3 * (2 ** ((data[10] & 0x07) + 1))
    while pos < n:
        block = data[pos]
        if block == 0x3B:  # trailer
            return pos + 1 == n
        if block == 0x2C:  # image descriptor
            if pos + 11 > n:
                return False
            packed = data[pos + 9]
            pos += 10
            if packed & 0x80:
                pos += 3 * (2 ** ((packed & 0x07) + 1))
            pos = _gif_skip_sub_blocks(data, pos + 1)  # +1: LZW minimum code size
        elif block == 0x21 and pos + 2 <= n:  # extension
            label = data[pos + 1]
            if label == 0xFF:  # application extension: only looping info is allowed
                if pos + 14 > n or data[pos + 2] != 11:
                    return False
                if data[pos + 3 : pos + 14] not in _GIF_ALLOWED_APPLICATIONS:
                    return False  # e.g. XMP DataXMP, ICC, vendor data
            elif label != 0xF9:  # only graphic control; comment/plain text are metadata
                return False
            pos = _gif_skip_sub_blocks(data, pos + 2)
        else:
            return False
        if pos < 0:
            return False
    return False


_WEBP_RENDERING_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})


def _riff_chunks(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]] | None:
    chunks: list[tuple[bytes, int, int]] = []
    pos = start
    while pos < end:
        if pos + 8 > end:
            return None
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        payload_end = pos + 8 + size
        if payload_end > end:
            return None
        chunks.append((data[pos : pos + 4], pos + 8, payload_end))
        pos = payload_end + (size & 1)
    return chunks


def _scan_webp(data: bytes) -> tuple[bool, bool]:
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    chunks = _riff_chunks(data, 12, min(riff_end, len(data)))
    if chunks is None:
        return False, False
    codecs: set[bytes] = set()
    clean = riff_end == len(data)
    for chunk_type, start, end in chunks:
        if chunk_type not in _WEBP_RENDERING_CHUNKS:
            clean = False
        elif chunk_type in (b"VP8 ", b"VP8L"):
            codecs.add(chunk_type)
        elif chunk_type == b"ANMF":
            frame_chunks = _riff_chunks(data, start + 16, end) or []
            codecs.update(t for t, _, _ in frame_chunks if t in (b"VP8 ", b"VP8L"))
    return clean, codecs == {b"VP8L"}


def _bmff_boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]] | None:
    boxes: list[tuple[bytes, int, int]] = []
    pos = start
    while pos < end:
        if pos + 8 > end:
            return None
        size = int.from_bytes(data[pos : pos + 4], "big")
        header = 8
        if size == 1:
            if pos + 16 > end:
                return None
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return None
        boxes.append((data[pos + 4 : pos + 8], pos + header, pos + size))
        pos += size
    return boxes


_AVIF_TOP_BOXES = frozenset({b"ftyp", b"meta", b"mdat", b"moov"})
_AVIF_META_BOXES = frozenset(
    {b"hdlr", b"pitm", b"iloc", b"iinf", b"iref", b"iprp", b"idat", b"dinf", b"grpl"}
)
_AVIF_IMAGE_ITEMS = frozenset({b"av01", b"grid", b"iovl", b"iden"})
_BMFF_CONTAINERS = frozenset({b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex"})


def _avif_is_clean(data: bytes) -> bool:
    top = _bmff_boxes(data, 0, len(data))
    if top is None:
        return False
    for box_type, start, end in top:
        if box_type not in _AVIF_TOP_BOXES:
            return False  # free/skip/uuid/... can hold anything
        if box_type == b"meta" and not _avif_meta_is_clean(data, start, end):
            return False
        if box_type == b"moov" and not _bmff_has_no_user_data(data, start, end):
            return False
    return True


def _avif_meta_is_clean(data: bytes, start: int, end: int) -> bool:
    children = _bmff_boxes(data, start + 4, end)  # meta is a FullBox
    if children is None:
        return False
    for box_type, child_start, child_end in children:
        if box_type not in _AVIF_META_BOXES:
            return False  # e.g. xml / bxml boxes
        if box_type == b"iinf" and not _avif_items_are_images(data, child_start, child_end):
            return False
    return True


def _avif_items_are_images(data: bytes, start: int, end: int) -> bool:
    if start + 4 > end:
        return False
    count_size = 2 if data[start] == 0 else 4
    entries = _bmff_boxes(data, start + 4 + count_size, end)
    if entries is None:
        return False
    for box_type, entry_start, entry_end in entries:
        if box_type != b"infe" or entry_start + 4 > entry_end:
            return False
        version = data[entry_start]
        if version < 2:
            return False
        type_at = entry_start + 4 + (2 if version == 2 else 4) + 2
        if data[type_at : type_at + 4] not in _AVIF_IMAGE_ITEMS:
            return False  # Exif, mime (XMP), uri, ...
    return True


def _bmff_has_no_user_data(data: bytes, start: int, end: int) -> bool:
    boxes = _bmff_boxes(data, start, end)
    if boxes is None:
        return False
    for box_type, child_start, child_end in boxes:
        if box_type in (b"udta", b"meta", b"uuid"):
            return False  # user data (e.g. location) and vendor boxes
        if box_type in _BMFF_CONTAINERS and not _bmff_has_no_user_data(
            data, child_start, child_end
        ):
            return False
    return True

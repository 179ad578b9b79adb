"""Output images of the built-in local providers: size, format and metadata-free encoding.

``local.sketch``, ``local.transform`` and ``local.diffusers`` all hand the pipeline
an encoded image; they share one encoder so every local output is encoded the same
way (no EXIF, ICC or text chunks; JPEG alpha flattened onto white) and one mapping
from an aspect ratio to pixel dimensions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from io import BytesIO

from PIL import Image

__all__ = [
    "ENCODED_FORMATS",
    "ENCODED_MEDIA_TYPES",
    "MAX_SIDE",
    "MIN_SIDE",
    "OUTPUT_FORMATS",
    "RenderedImage",
    "check_quality",
    "dimensions_for",
    "encode_image",
    "normalize_format",
]

MIN_SIDE = 16
MAX_SIDE = 4096

#: Canonical output formats and their MIME types.
OUTPUT_FORMATS: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}
#: The catalog's ``output_formats`` and ``media_outputs`` of a model whose images
#: this module encodes (every local model): what the encoder can write.
ENCODED_FORMATS = tuple(OUTPUT_FORMATS)
ENCODED_MEDIA_TYPES = tuple(OUTPUT_FORMATS.values())
_FORMAT_ALIASES = {"jpg": "jpeg"}

DEFAULT_JPEG_QUALITY = 90
DEFAULT_WEBP_QUALITY = 85
_WEBP_METHOD = 2  # 0 (fastest) .. 6 (slowest); 2 is a good speed/size trade-off.
_PNG_COMPRESS_LEVEL = 1


@dataclass(frozen=True)
class RenderedImage:
    """An encoded image produced by a built-in provider."""

    data: bytes
    mime_type: str
    width: int
    height: int


# --------------------------------------------------------------------------- formats


def normalize_format(output_format: str) -> str:
    """Return the canonical format name (``png``/``jpeg``/``webp``) or raise ``ValueError``."""
    if not isinstance(output_format, str):
        raise ValueError("output_format must be a string: one of png, jpeg, webp")
    name = output_format.strip().lower()
    name = _FORMAT_ALIASES.get(name, name)
    if name not in OUTPUT_FORMATS:
        raise ValueError("output_format must be one of png, jpeg (jpg), webp")
    return name


def check_quality(quality: int | None) -> None:
    """Raise ``ValueError`` unless ``quality`` is ``None`` or an integer in ``[1, 100]``."""
    if quality is None:
        return
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError("quality must be an integer between 1 and 100")


def encode_image(
    image: Image.Image, output_format: str, quality: int | None = None
) -> RenderedImage:
    """Encode ``image`` without any metadata.

    ``image`` must be in mode ``L``, ``LA``, ``RGB`` or ``RGBA``; it is converted as
    needed for the target format (alpha is flattened onto white for JPEG). ``quality``
    applies to JPEG and WebP and is ignored for PNG.
    """
    fmt = normalize_format(output_format)
    check_quality(quality)
    image = _prepare_mode(image, fmt)
    buf = BytesIO()
    if fmt == "png":
        image.save(buf, format="PNG", compress_level=_PNG_COMPRESS_LEVEL)
    elif fmt == "jpeg":
        q = DEFAULT_JPEG_QUALITY if quality is None else quality
        image.save(buf, format="JPEG", quality=q)
    else:
        q = DEFAULT_WEBP_QUALITY if quality is None else quality
        image.save(buf, format="WEBP", quality=q, method=_WEBP_METHOD)
    return RenderedImage(
        data=buf.getvalue(),
        mime_type=OUTPUT_FORMATS[fmt],
        width=image.width,
        height=image.height,
    )


def _prepare_mode(image: Image.Image, fmt: str) -> Image.Image:
    mode = image.mode
    if fmt == "jpeg":
        if mode in ("L", "RGB"):
            return image
        if mode in ("LA", "RGBA"):
            base_mode = "L" if mode == "LA" else "RGB"
            white = 255 if base_mode == "L" else (255, 255, 255)
            background = Image.new(base_mode, image.size, white)
            background.paste(image.convert(base_mode), mask=image.getchannel("A"))
            return background
        return image.convert("RGB")
    if fmt == "webp":
        if mode in ("RGB", "RGBA"):
            return image
        return image.convert("RGBA" if "A" in mode else "RGB")
    # PNG
    if mode in ("L", "LA", "RGB", "RGBA"):
        return image
    return image.convert("RGBA" if "A" in mode else "RGB")


# --------------------------------------------------------------------------- sizes

_RATIO_RE = re.compile(r"^\s*(\d{1,3})\s*:\s*(\d{1,3})\s*$")


def _round16(value: float) -> int:
    return max(16, int(value / 16.0 + 0.5) * 16)  # round half up


def dimensions_for(aspect_ratio: str, long_edge: int = 1024) -> tuple[int, int]:
    """Map an ``"W:H"`` aspect ratio to ``(width, height)``.

    The long edge equals ``long_edge`` (rounded to a multiple of 16) and the short
    edge is rounded to the nearest multiple of 16 (at least 16). Both ratio terms
    must be positive integers no greater than 100.
    """
    if not isinstance(aspect_ratio, str):
        raise ValueError("aspect_ratio must be a string like '16:9'")
    match = _RATIO_RE.match(aspect_ratio)
    if match is None:
        raise ValueError("aspect_ratio must look like 'W:H' with positive integers, e.g. '16:9'")
    rw, rh = int(match.group(1)), int(match.group(2))
    if not (1 <= rw <= 100 and 1 <= rh <= 100):
        raise ValueError("aspect_ratio terms must be integers between 1 and 100")
    if (
        isinstance(long_edge, bool)
        or not isinstance(long_edge, int)
        or not MIN_SIDE <= long_edge <= MAX_SIDE
    ):
        raise ValueError(f"long_edge must be an integer between {MIN_SIDE} and {MAX_SIDE}")
    long_px = min(MAX_SIDE, _round16(long_edge))
    if rw >= rh:
        return long_px, min(long_px, _round16(long_px * rh / rw))
    return min(long_px, _round16(long_px * rw / rh)), long_px

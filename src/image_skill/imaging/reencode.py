"""Re-encode decoded frames in their own format with only what rendering needs.

Used when an upload carries metadata (EXIF, XMP, comments, unknown chunks) or
bytes after its end: the pixels, ICC profile, transparency and animation
timing are kept; everything else is left behind. Fast settings only (PNG
``compress_level`` 3, no ``optimize``): this runs on the request path.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

__all__ = ["Decoded", "encode"]


@dataclass
class Decoded:
    """What decoding learned, and the clean frames when a re-encode is needed."""

    width: int
    height: int
    # Metadata-free copies of every frame (orientation applied) when a re-encode is needed;
    # None when the original bytes can be stored unchanged.
    frames: list[Image.Image] | None
    loop: int | None
    background: Any
    transparency: Any
    icc_profile: bytes | None
    jpeg_subsampling: int
    jpeg_progressive: bool
    webp_lossless: bool = False
    durations: list[int] = field(default_factory=list)


def encode(pillow_format: str, decoded: Decoded) -> bytes:
    """The frames of ``decoded`` written as ``pillow_format`` without metadata."""
    frames = decoded.frames
    if not frames:
        raise ValueError("no frames to encode")
    first = frames[0]
    options: dict[str, Any] = {}
    if decoded.icc_profile is not None and pillow_format != "GIF":
        options["icc_profile"] = decoded.icc_profile

    if pillow_format == "JPEG":
        options["quality"] = 95
        if decoded.jpeg_subsampling >= 0:
            options["subsampling"] = decoded.jpeg_subsampling
        if decoded.jpeg_progressive:
            options["progressive"] = True
        if first.mode not in ("1", "L", "RGB", "CMYK"):
            first = first.convert("RGB")
    elif pillow_format == "PNG":
        options["compress_level"] = 3
    elif pillow_format == "WEBP":
        if decoded.webp_lossless:
            options.update(lossless=True, exact=True)
        else:
            options["quality"] = 95
        if isinstance(decoded.background, tuple):
            options["background"] = decoded.background
    elif pillow_format == "GIF":
        if decoded.transparency is not None:
            options["transparency"] = decoded.transparency
            # Pillow hands out fully composited frames; clear to transparent between them
            # so transparent areas do not show the previous frame.
            options["disposal"] = 2
    elif pillow_format == "AVIF":
        options["quality"] = 95

    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:], duration=decoded.durations)
        if pillow_format == "GIF":
            if decoded.loop is not None:
                options["loop"] = decoded.loop
        elif pillow_format in ("PNG", "WEBP"):
            options["loop"] = decoded.loop if decoded.loop is not None else 0
    elif pillow_format == "GIF" and decoded.durations and decoded.durations[0]:
        options["duration"] = decoded.durations[0]

    out = io.BytesIO()
    first.save(out, format=pillow_format, **options)
    return out.getvalue()

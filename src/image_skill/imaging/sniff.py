"""Name an image format from its first bytes, with the standard library only.

The service and the CLI both decide "is this an image we accept?" from magic
bytes, never from a declared MIME type or a filename. This module must stay
free of Pillow so the CLI can check a local file before sending it without
paying Pillow's import cost.
"""

from __future__ import annotations

__all__ = ["ALLOWED_MIME_TYPES", "PNG_SIGNATURE", "SNIFF_BYTES", "describe_allowed", "sniff_mime"]

ALLOWED_MIME_TYPES: frozenset[str] = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/gif", "image/avif"}
)
# Enough leading bytes for every signature below (an AVIF ftyp box lists its brands).
SNIFF_BYTES = 512
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_AVIF_BRANDS = frozenset({b"avif", b"avis"})


def describe_allowed() -> str:
    """The accepted formats, for messages."""
    return "PNG, JPEG, WebP, GIF or AVIF"


def sniff_mime(data: bytes) -> str | None:
    """Return the MIME type implied by the magic bytes, or None if not an allowed format."""
    if data.startswith(PNG_SIGNATURE):
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

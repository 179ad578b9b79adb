"""Walk an image container and say whether it holds only what rendering needs.

Each scanner returns True only if it positively walked the whole file and found
nothing but allowlisted rendering structures. Any anomaly (unknown chunk,
metadata, trailing bytes, malformed framing) returns False, which only means
"re-encode"; scanners never raise. Pure Python over bytes: no decoding.
"""

from __future__ import annotations

from collections.abc import Callable

from image_skill.imaging.sniff import PNG_SIGNATURE

__all__ = ["gif_frame_count", "scan_structure"]


def scan_structure(pillow_format: str, data: bytes) -> tuple[bool, bool]:
    """Return (clean, webp_lossless) for ``data`` in Pillow format ``pillow_format``."""
    if pillow_format == "WEBP":
        return _scan_webp(data)
    scanner: Callable[[bytes], bool] = {
        "PNG": _png_is_clean,
        "JPEG": _jpeg_is_clean,
        "GIF": _gif_is_clean,
        "AVIF": _avif_is_clean,
    }[pillow_format]
    return scanner(data), False


def gif_frame_count(data: bytes, stop_after: int) -> int:
    """Image descriptors in a GIF, counted without decoding (at most ``stop_after``).

    Pillow's own ``n_frames`` walks every frame in Python; a file of a million
    tiny frames would make that walk the attack, so this one stops early.
    Malformed framing ends the count where it broke.
    """
    n = len(data)
    if n < 13:
        return 0
    pos = 13
    if data[10] & 0x80:
        pos += 3 * (2 ** ((data[10] & 0x07) + 1))
    frames = 0
    while 0 <= pos < n and frames < stop_after:
        block = data[pos]
        if block == 0x2C:
            if pos + 11 > n:
                break
            frames += 1
            packed = data[pos + 9]
            pos += 10
            if packed & 0x80:
                pos += 3 * (2 ** ((packed & 0x07) + 1))
            pos = _gif_skip_sub_blocks(data, pos + 1)
        elif block == 0x21 and pos + 2 <= n:
            pos = _gif_skip_sub_blocks(data, pos + 2)
        else:
            break
    return frames


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
    pos, n = len(PNG_SIGNATURE), len(data)
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

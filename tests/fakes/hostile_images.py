"""Small files that decode to a lot: built byte by byte, so building them costs nothing."""

from __future__ import annotations

import struct


def canvas_bomb_gif(frames: int, side: int, *, comment: bool = True) -> bytes:
    """A GIF of ``frames`` 1x1 frames on a ``side`` x ``side`` canvas.

    Pillow composites every frame onto the whole canvas, so each frame decodes to
    ``side * side`` pixels; 199 frames on 1000x1000 are ~5 KB on the wire and 199
    Mpx decoded. ``comment`` adds a comment extension (metadata), which forces the
    re-encode path that used to hold every decoded canvas at once.
    """
    header = b"GIF89a" + struct.pack("<HHBBB", side, side, 0x80, 0, 0)
    palette = b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    note = b"\x21\xfe\x02hi\x00" if comment else b""
    frame = (
        b"\x21\xf9\x04\x00\x01\x00\x00\x00"  # graphic control: 10 ms
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, 1, 1, 0)  # one pixel at the top left
        + b"\x02\x02\x44\x01\x00"  # LZW (minimum code size 2): clear, index 0, end
    )
    return header + palette + loop + note + frame * frames + b"\x3b"

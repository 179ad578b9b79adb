"""What one upload may cost to inspect, and the running account of that cost.

A small file can declare a huge amount of work: a 10 KB GIF of 199 frames on a
1000x1000 canvas decodes to 199 full canvases. So every frame is paid for
*before* it is decoded, from sizes the headers already told us, against three
bounds: pixels per frame, pixels across all frames, and wall-clock time. The
time bound is cooperative: it is checked between frames, so a decode stops at
the next frame boundary once it is over time (one frame's decode is itself
bounded by the per-frame pixel limit).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MAX_UPLOAD_BYTES", "DecodeBudget", "InputLimits", "InputRejected"]

# The largest upload (decoded bytes): the service's default (IMAGE_SKILL_MAX_UPLOAD_BYTES)
# and what the CLI refuses to send, so the two never disagree.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class InputLimits:
    """Upper bounds applied to an upload before and while it is decoded."""

    max_bytes: int = MAX_UPLOAD_BYTES
    max_pixels: int = 40_000_000  # width * height of one frame
    max_side: int = 12_000
    max_frames: int = 1_000
    max_total_pixels: int = 120_000_000  # width * height summed over all frames decoded
    decode_seconds: float = 10.0  # wall clock for one whole inspection


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


class DecodeBudget:
    """Pixels and time spent on one inspection, charged before each frame is decoded."""

    def __init__(self, limits: InputLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._deadline = clock() + limits.decode_seconds
        self.frames = 0
        self.pixels = 0

    def check_frame_size(self, width: int, height: int) -> None:
        """One frame's canvas against the side and per-frame pixel limits."""
        limits = self.limits
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

    def check_declared(self, frames: int, width: int, height: int) -> None:
        """Refuse up front when the frame count the container declares is already too much."""
        limits = self.limits
        if frames > limits.max_frames:
            raise InputRejected(
                "too_many_frames",
                f"The animation has {frames} frames; the limit is {limits.max_frames} frames.",
            )
        if frames * width * height > limits.max_total_pixels:
            raise InputRejected(
                "too_many_pixels",
                f"The animation has {frames} frames of {width}x{height} pixels; the limit is "
                f"{limits.max_total_pixels} decoded pixels across all frames.",
            )

    def charge_frame(self, width: int, height: int) -> None:
        """Pay for the next frame before decoding it (count, pixels, then time)."""
        self.check_frame_size(width, height)
        self.check_time()
        limits = self.limits
        if self.frames + 1 > limits.max_frames:
            raise InputRejected(
                "too_many_frames",
                f"The animation has more than {limits.max_frames} frames; the limit is "
                f"{limits.max_frames} frames.",
            )
        if self.pixels + width * height > limits.max_total_pixels:
            raise InputRejected(
                "too_many_pixels",
                f"Decoding the animation takes more than {limits.max_total_pixels} pixels "
                "across all frames; that is the limit.",
            )
        self.frames += 1
        self.pixels += width * height

    def check_time(self) -> None:
        """Stop once the inspection has run past ``decode_seconds``."""
        if self._clock() > self._deadline:
            raise InputRejected(
                "decode_timeout",
                f"Decoding the image took longer than the limit of "
                f"{self.limits.decode_seconds:g} seconds.",
            )

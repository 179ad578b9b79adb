"""Drawing primitives for ``local.sketch``: gradients and layers of translucent shapes.

Every primitive draws from the caller's seeded ``random.Random`` in a fixed order, so
the renderer's output stays byte-identical for the same prompt and seed; changing the
order of draws here changes every sketch.
"""

from __future__ import annotations

import math
import random

from PIL import Image, ImageDraw

Color = tuple[int, int, int]


def mix(a: Color, b: Color, t: float) -> Color:
    """The colour a fraction ``t`` of the way from ``a`` to ``b``."""
    return (
        int(a[0] + (b[0] - a[0]) * t),
        int(a[1] + (b[1] - a[1]) * t),
        int(a[2] + (b[2] - a[2]) * t),
    )


def jitter(rng: random.Random, color: Color, amount: int = 18) -> Color:
    """``color`` with each channel nudged by up to ``amount``."""
    return (
        max(0, min(255, color[0] + rng.randint(-amount, amount))),
        max(0, min(255, color[1] + rng.randint(-amount, amount))),
        max(0, min(255, color[2] + rng.randint(-amount, amount))),
    )


def gradient(size: tuple[int, int], stops: list[Color], vertical: bool) -> Image.Image:
    """A smooth multi-stop gradient, built as a 1x256 strip and resized (cheap)."""
    steps = 256
    segments = len(stops) - 1
    pixels: list[Color] = []
    for i in range(steps):
        pos = i / (steps - 1) * segments
        idx = min(int(pos), segments - 1)
        pixels.append(mix(stops[idx], stops[idx + 1], pos - idx))
    strip = Image.new("RGB", (1, steps))
    strip.putdata(pixels)
    if not vertical:
        strip = strip.transpose(Image.Transpose.ROTATE_90)
    return strip.resize(size, Image.Resampling.BILINEAR)


def rgba(color: Color, alpha: int) -> tuple[int, int, int, int]:
    """``color`` with an alpha channel."""
    return (color[0], color[1], color[2], alpha)


def draw_focal_disc(
    draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, glow: Color
) -> None:
    """A large "sun"/"moon" disc with a soft halo."""
    unit = min(w, h)
    r = unit * rng.uniform(0.12, 0.28)
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.15, 0.55) * h
    draw.ellipse((cx - r * 1.35, cy - r * 1.35, cx + r * 1.35, cy + r * 1.35), fill=rgba(glow, 50))
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rgba(glow, 210))


def draw_orbs(
    draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, colors: list[Color], n: int
) -> None:
    """Translucent discs, some with a ring around them."""
    unit = min(w, h)
    for _ in range(n):
        r = rng.uniform(0.03, 0.22) * unit
        cx, cy = rng.uniform(-0.05, 1.05) * w, rng.uniform(-0.05, 1.05) * h
        fill = rgba(jitter(rng, rng.choice(colors)), rng.randint(60, 170))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        if rng.random() < 0.35:
            ring = rgba(rng.choice(colors), rng.randint(90, 200))
            width = max(1, int(unit * rng.uniform(0.003, 0.012)))
            r2 = r * rng.uniform(1.1, 1.5)
            draw.ellipse((cx - r2, cy - r2, cx + r2, cy + r2), outline=ring, width=width)


def draw_blocks(
    draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, colors: list[Color], n: int
) -> None:
    """Translucent rectangles, some with rounded corners."""
    for _ in range(n):
        bw, bh = rng.uniform(0.05, 0.45) * w, rng.uniform(0.03, 0.35) * h
        x, y = rng.uniform(-0.1, 1.0) * w, rng.uniform(-0.1, 1.0) * h
        fill = rgba(jitter(rng, rng.choice(colors)), rng.randint(50, 160))
        if rng.random() < 0.4:
            radius = int(min(bw, bh) * rng.uniform(0.1, 0.5))
            draw.rounded_rectangle((x, y, x + bw, y + bh), radius=radius, fill=fill)
        else:
            draw.rectangle((x, y, x + bw, y + bh), fill=fill)


def draw_shards(
    draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, colors: list[Color], n: int
) -> None:
    """Translucent irregular polygons of three to six sides."""
    unit = min(w, h)
    for _ in range(n):
        cx, cy = rng.uniform(0.0, 1.0) * w, rng.uniform(0.0, 1.0) * h
        r = rng.uniform(0.06, 0.3) * unit
        sides = rng.randint(3, 6)
        start = rng.uniform(0, 2 * math.pi)
        points = [
            (
                cx + r * rng.uniform(0.6, 1.0) * math.cos(start + 2 * math.pi * k / sides),
                cy + r * rng.uniform(0.6, 1.0) * math.sin(start + 2 * math.pi * k / sides),
            )
            for k in range(sides)
        ]
        fill = rgba(jitter(rng, rng.choice(colors)), rng.randint(60, 170))
        draw.polygon(points, fill=fill)


def draw_bands(
    draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, colors: list[Color], n: int
) -> None:
    """Layered wavy bands (hills / waves) from back to front."""
    segments = 32
    for i in range(n):
        base = h * (0.45 + 0.5 * (i + rng.random() * 0.5) / max(n, 1))
        amp = h * rng.uniform(0.02, 0.09)
        freq = rng.uniform(0.6, 2.6)
        phase = rng.uniform(0, 2 * math.pi)
        points = [
            (w * k / segments, base + amp * math.sin(phase + freq * 2 * math.pi * k / segments))
            for k in range(segments + 1)
        ]
        points += [(w, h), (0, h)]
        fill = rgba(jitter(rng, colors[i % len(colors)], 10), rng.randint(150, 230))
        draw.polygon(points, fill=fill)

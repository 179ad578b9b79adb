"""``local.sketch``: a deterministic, offline procedural renderer.

This is *not* a generative model. It is an honest stand-in that needs no network
and no weights: it turns a prompt into a pleasant abstract composition (a gradient
background with layered translucent shapes) whose palette and layout are derived
from a hash of the prompt and seed. The prompt text itself is never drawn into the
image.

The same ``(prompt, seed, width, height, output_format, quality)`` always yields
byte-identical output with the same Pillow build.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageDraw

__all__ = [
    "MAX_SIDE",
    "MIN_SIDE",
    "OUTPUT_FORMATS",
    "RenderedImage",
    "dimensions_for",
    "encode_image",
    "normalize_format",
    "render_sketch",
]

MIN_SIDE = 16
MAX_SIDE = 4096

#: Canonical output formats and their MIME types.
OUTPUT_FORMATS: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}
_FORMAT_ALIASES = {"jpg": "jpeg"}

DEFAULT_JPEG_QUALITY = 90
DEFAULT_WEBP_QUALITY = 85
_WEBP_METHOD = 2  # 0 (fastest) .. 6 (slowest); 2 is a good speed/size trade-off.
_PNG_COMPRESS_LEVEL = 1

Color = tuple[int, int, int]


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


def _check_quality(quality: int | None) -> None:
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
    _check_quality(quality)
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


# --------------------------------------------------------------------------- palettes


def _hex(code: str) -> Color:
    return (int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16))


_PALETTES: dict[str, tuple[Color, ...]] = {
    name: tuple(_hex(c) for c in codes.split())
    for name, codes in {
        "sunset": "2b1055 7597de ff7e5f feb47b ffd194",
        "ocean": "03045e 0077b6 00b4d8 90e0ef caf0f8",
        "forest": "1b4332 2d6a4f 52b788 95d5b2 d8f3dc",
        "night": "0b0c2a 1d2951 3e4a89 a3a8f0 f6f1d1",
        "fire": "370617 9d0208 dc2f02 f48c06 ffba08",
        "desert": "6b4226 b5835a e0a96d f2d0a4 fbe7c6",
        "ice": "e0fbfc c2dfe3 9db4c0 5c6b73 253237",
        "candy": "ff99c8 fcf6bd d0f4de a9def9 e4c1f9",
        "autumn": "582f0e 7f4f24 936639 a68a64 d4a373",
        "neon": "0d0221 261447 ff2a6d 05d9e8 d1f7ff",
        "pastel": "f7d6e0 eff7f6 b2f7ef 7bdff2 cdb4db",
        "noir": "0a0a0a 2b2b2b 595959 a6a6a6 ededed",
        "meadow": "386641 6a994e a7c957 f2e8cf bc4749",
        "lagoon": "264653 2a9d8f e9c46a f4a261 e76f51",
        "berry": "3d0c45 6b2d5c a4508b f0a6ca f9e0ec",
        "dawn": "355070 6d597a b56576 e56b6f eaac8b",
    }.items()
}

_KEYWORDS: dict[str, str] = {}
for _palette, _words in {
    "sunset": "sunset sundown dusk evening golden sun",
    "ocean": "ocean sea water wave waves beach underwater blue river lake",
    "forest": "forest tree trees jungle woods leaf leaves green plant garden",
    "night": "night space star stars galaxy moon cosmic midnight sky",
    "fire": "fire flame flames lava volcano dragon red hot",
    "desert": "desert sand dune dunes canyon savanna dry",
    "ice": "ice snow winter frost frozen glacier arctic cold mountain mountains",
    "candy": "candy sweet cute kawaii toy dessert",
    "autumn": "autumn fall coffee wood rustic vintage brown",
    "neon": "neon cyberpunk cyber synthwave futuristic city robot",
    "pastel": "pastel soft dreamy calm gentle",
    "noir": "noir monochrome grayscale greyscale shadow dark black white",
    "meadow": "meadow field flower flowers spring farm",
    "lagoon": "tropical island summer lagoon retro",
    "berry": "berry purple violet grape magic fantasy",
    "dawn": "dawn morning sunrise warm",
}.items():
    for _word in _words.split():
        _KEYWORDS.setdefault(_word, _palette)

_WORD_RE = re.compile(r"[a-z0-9]+")


def _seed_material(prompt: str, seed: int | None) -> bytes:
    if seed is None:
        material = "local.sketch\x00prompt-only\x00" + prompt
    else:
        material = f"local.sketch\x00seed={int(seed)}\x00" + prompt
    return hashlib.sha256(material.encode("utf-8")).digest()


def _mix(a: Color, b: Color, t: float) -> Color:
    return (
        int(a[0] + (b[0] - a[0]) * t),
        int(a[1] + (b[1] - a[1]) * t),
        int(a[2] + (b[2] - a[2]) * t),
    )


def _jitter(rng: random.Random, color: Color, amount: int = 18) -> Color:
    return (
        max(0, min(255, color[0] + rng.randint(-amount, amount))),
        max(0, min(255, color[1] + rng.randint(-amount, amount))),
        max(0, min(255, color[2] + rng.randint(-amount, amount))),
    )


# --------------------------------------------------------------------------- rendering


def _gradient(size: tuple[int, int], stops: list[Color], vertical: bool) -> Image.Image:
    """A smooth multi-stop gradient, built as a 1x256 strip and resized (cheap)."""
    steps = 256
    segments = len(stops) - 1
    pixels: list[Color] = []
    for i in range(steps):
        pos = i / (steps - 1) * segments
        idx = min(int(pos), segments - 1)
        pixels.append(_mix(stops[idx], stops[idx + 1], pos - idx))
    strip = Image.new("RGB", (1, steps))
    strip.putdata(pixels)
    if not vertical:
        strip = strip.transpose(Image.Transpose.ROTATE_90)
    return strip.resize(size, Image.Resampling.BILINEAR)


def _rgba(color: Color, alpha: int) -> tuple[int, int, int, int]:
    return (color[0], color[1], color[2], alpha)


def _draw_orbs(
    draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, colors: list[Color], n: int
) -> None:
    unit = min(w, h)
    for _ in range(n):
        r = rng.uniform(0.03, 0.22) * unit
        cx, cy = rng.uniform(-0.05, 1.05) * w, rng.uniform(-0.05, 1.05) * h
        fill = _rgba(_jitter(rng, rng.choice(colors)), rng.randint(60, 170))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        if rng.random() < 0.35:
            ring = _rgba(rng.choice(colors), rng.randint(90, 200))
            width = max(1, int(unit * rng.uniform(0.003, 0.012)))
            r2 = r * rng.uniform(1.1, 1.5)
            draw.ellipse((cx - r2, cy - r2, cx + r2, cy + r2), outline=ring, width=width)


def _draw_blocks(
    draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, colors: list[Color], n: int
) -> None:
    for _ in range(n):
        bw, bh = rng.uniform(0.05, 0.45) * w, rng.uniform(0.03, 0.35) * h
        x, y = rng.uniform(-0.1, 1.0) * w, rng.uniform(-0.1, 1.0) * h
        fill = _rgba(_jitter(rng, rng.choice(colors)), rng.randint(50, 160))
        if rng.random() < 0.4:
            radius = int(min(bw, bh) * rng.uniform(0.1, 0.5))
            draw.rounded_rectangle((x, y, x + bw, y + bh), radius=radius, fill=fill)
        else:
            draw.rectangle((x, y, x + bw, y + bh), fill=fill)


def _draw_shards(
    draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, colors: list[Color], n: int
) -> None:
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
        fill = _rgba(_jitter(rng, rng.choice(colors)), rng.randint(60, 170))
        draw.polygon(points, fill=fill)


def _draw_bands(
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
        fill = _rgba(_jitter(rng, colors[i % len(colors)], 10), rng.randint(150, 230))
        draw.polygon(points, fill=fill)


def _validate_side(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer between {MIN_SIDE} and {MAX_SIDE}")
    if not MIN_SIDE <= value <= MAX_SIDE:
        raise ValueError(f"{name} must be between {MIN_SIDE} and {MAX_SIDE} pixels")
    return value


def render_sketch(
    prompt: str,
    *,
    seed: int | None,
    width: int,
    height: int,
    output_format: str = "png",
    quality: int | None = None,
) -> RenderedImage:
    """Render a deterministic abstract composition for ``prompt``.

    ``seed=None`` derives the layout from the prompt alone. Raises ``ValueError`` for
    sizes outside ``[16, 4096]``, unknown formats or a quality outside ``[1, 100]``.
    """
    if not isinstance(prompt, str):
        raise ValueError("prompt must be a string")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError("seed must be an integer or None")
    w = _validate_side("width", width)
    h = _validate_side("height", height)
    fmt = normalize_format(output_format)
    _check_quality(quality)

    rng = random.Random(_seed_material(prompt, seed))
    words = _WORD_RE.findall(prompt.lower())

    # Palette: first recognised keyword wins, otherwise picked by hash.
    names = sorted(_PALETTES)
    keyword_palettes = [_KEYWORDS[word] for word in words if word in _KEYWORDS]
    palette_name = keyword_palettes[0] if keyword_palettes else rng.choice(names)
    colors = list(_PALETTES[palette_name])
    if len(keyword_palettes) > 1 and keyword_palettes[1] != palette_name:
        # A second theme word contributes a couple of accent colours.
        colors += rng.sample(_PALETTES[keyword_palettes[1]], 2)
    rng.shuffle(colors)

    # Background: 2-3 stop gradient from the darker/lighter ends of the palette.
    by_luma = sorted(colors, key=lambda c: 299 * c[0] + 587 * c[1] + 114 * c[2])
    stops = [_jitter(rng, by_luma[0], 10), _jitter(rng, by_luma[-1], 10)]
    if rng.random() < 0.5:
        stops.reverse()
    if rng.random() < 0.6:
        stops.insert(1, _jitter(rng, by_luma[len(by_luma) // 2], 10))
    image = _gradient((w, h), stops, vertical=rng.random() < 0.75)
    draw = ImageDraw.Draw(image, "RGBA")

    # Shape counts grow gently with prompt length; total primitives stay <= ~40.
    richness = min(len(words), 16)
    total = 10 + richness + rng.randint(0, 8)
    styles = ["orbs", "blocks", "shards", "bands"]
    primary = styles[(len(words) + rng.randint(0, 3)) % len(styles)]
    secondary = rng.choice([s for s in styles if s != primary])

    if rng.random() < 0.6:  # a large "sun"/"moon" focal disc
        unit = min(w, h)
        r = unit * rng.uniform(0.12, 0.28)
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.15, 0.55) * h
        glow = by_luma[-1]
        draw.ellipse(
            (cx - r * 1.35, cy - r * 1.35, cx + r * 1.35, cy + r * 1.35), fill=_rgba(glow, 50)
        )
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_rgba(glow, 210))
        total -= 2

    painters = {
        "orbs": _draw_orbs,
        "blocks": _draw_blocks,
        "shards": _draw_shards,
        "bands": _draw_bands,
    }
    primary_n = total * 2 // 3
    secondary_n = total - primary_n
    # Bands cover large areas; keep their count modest and draw them last (foreground).
    order = [(primary, primary_n), (secondary, secondary_n)]
    order.sort(key=lambda item: item[0] == "bands")
    for style, count in order:
        painters[style](draw, rng, w, h, colors, min(count, 5) if style == "bands" else count)

    return encode_image(image, fmt, quality)

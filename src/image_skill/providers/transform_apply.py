"""Running ``local.transform`` operations: decode, apply in order, encode.

Decoding takes only the first frame, honours the EXIF orientation once and copies
the pixels into a fresh image, so no EXIF, ICC or text chunk reaches the output.
Every operation is validated again here, so a caller cannot skip the bounds checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from io import BytesIO

from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError, features

from image_skill.providers.image_output import RenderedImage, encode_image, normalize_format
from image_skill.providers.transform_ops import MAX_OUTPUT_SIDE, Operation, validate_operation

__all__ = ["apply_operations"]

_INPUT_FORMATS = ["PNG", "JPEG", "WEBP", "GIF"] + (["AVIF"] if features.check("avif") else [])
_KEEP_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}


def _decode(data: bytes) -> tuple[Image.Image, str]:
    """Decode the first frame; return a metadata-free image in L/LA/RGB/RGBA and its format."""
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise ValueError("input image is empty")
    try:
        with Image.open(BytesIO(bytes(data)), formats=_INPUT_FORMATS) as opened:
            opened.seek(0)
            opened.load()
            source_format = opened.format or "PNG"
            image = ImageOps.exif_transpose(opened)
            image = _working_mode(image)
            # A fresh image guarantees no EXIF/ICC/text chunks survive.
            clean = Image.new(image.mode, image.size)
            clean.paste(image)
    except Image.DecompressionBombError as exc:
        raise ValueError("input image is too large to decode safely") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError) as exc:
        names = ", ".join(_INPUT_FORMATS)
        raise ValueError(f"input is not a decodable image (supported: {names})") from exc
    return clean, _KEEP_FORMATS.get(source_format, "png")


def _working_mode(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode.startswith("I") or mode == "F":
        # 16/32-bit greyscale: stretch the used range into 8 bits.
        wide = image.convert("F")
        extrema = wide.getextrema()
        lo, hi = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        return wide.point(lambda v: (v - lo) * scale).convert("L")
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")


def _check_bounds(image: Image.Image, name: str) -> None:
    w, h = image.size
    if not (1 <= w <= MAX_OUTPUT_SIDE and 1 <= h <= MAX_OUTPUT_SIDE):
        raise ValueError(
            f"{name}: result would be {w}x{h}; each side must be between 1 and {MAX_OUTPUT_SIDE} px"
        )


def _with_alpha_split(image: Image.Image, fn: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Apply ``fn`` to the colour bands only, keeping alpha untouched."""
    if image.mode in ("LA", "RGBA"):
        alpha = image.getchannel("A")
        base = fn(image.convert(image.mode[:-1]))
        base.putalpha(alpha)
        return base
    return fn(image)


def _apply_one(image: Image.Image, op: Operation) -> Image.Image:
    a = op.args
    if op.name == "resize":
        if "fit" in a:
            factor = a["fit"] / max(image.size)
            size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        elif "scale" in a:
            size = (
                max(1, round(image.width * a["scale"])),
                max(1, round(image.height * a["scale"])),
            )
        else:
            size = (a["width"], a["height"])
        if not all(1 <= s <= MAX_OUTPUT_SIDE for s in size):
            raise ValueError(
                f"resize: result would be {size[0]}x{size[1]}; each side must be between 1 and "
                f"{MAX_OUTPUT_SIDE} px"
            )
        return image.resize(size, Image.Resampling.LANCZOS)
    if op.name == "crop":
        left, top, w, h = a["left"], a["top"], a["width"], a["height"]
        if left + w > image.width or top + h > image.height:
            raise ValueError(
                f"crop: box {w}x{h} at ({left},{top}) lies outside the "
                f"{image.width}x{image.height} image"
            )
        return image.crop((left, top, left + w, top + h))
    if op.name == "rotate":
        degrees = a["degrees"]
        turns = degrees / 90
        if float(turns).is_integer():
            quarter = int(turns) % 4  # clockwise quarter turns
            transposes = {
                1: Image.Transpose.ROTATE_270,
                2: Image.Transpose.ROTATE_180,
                3: Image.Transpose.ROTATE_90,
            }
            return image if quarter == 0 else image.transpose(transposes[quarter])
        w, h = image.size
        rad = math.radians(degrees)
        new_w = math.ceil(abs(w * math.cos(rad)) + abs(h * math.sin(rad)) - 1e-6)
        new_h = math.ceil(abs(w * math.sin(rad)) + abs(h * math.cos(rad)) - 1e-6)
        if new_w > MAX_OUTPUT_SIDE or new_h > MAX_OUTPUT_SIDE:
            raise ValueError(f"rotate: result would exceed {MAX_OUTPUT_SIDE} px per side")
        rotated = image.rotate(-degrees, resample=Image.Resampling.BICUBIC, expand=True)
        _check_bounds(rotated, "rotate")
        return rotated
    if op.name == "flip":
        if a["direction"] == "horizontal":
            return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    if op.name == "grayscale":
        return image.convert("LA" if image.mode in ("LA", "RGBA") else "L")
    if op.name == "blur":
        return image.filter(ImageFilter.GaussianBlur(a["radius"]))
    if op.name == "sharpen":
        return image.filter(ImageFilter.UnsharpMask(radius=a["radius"], percent=a["percent"]))
    if op.name == "autocontrast":
        cutoff = a["cutoff"]
        return _with_alpha_split(image, lambda im: ImageOps.autocontrast(im, cutoff=cutoff))
    raise ValueError(f"unknown operation {op.name!r}")  # pragma: no cover - validated earlier


def apply_operations(
    data: bytes,
    operations: list[Operation],
    *,
    output_format: str | None = None,
    quality: int | None = None,
) -> RenderedImage:
    """Decode ``data``, apply ``operations`` in order and encode the result.

    The output format is the input's (PNG for GIF/AVIF inputs), then any ``convert``
    operations in order; explicit ``output_format``/``quality`` arguments override both.
    """
    image, fmt = _decode(data)
    chosen_quality: int | None = None
    for index, op in enumerate(operations):
        if not isinstance(op, Operation):
            raise ValueError(f"operations[{index}]: expected an Operation")
        op = validate_operation(op.name, dict(op.args), f"operations[{index}]")
        if op.name == "convert":
            fmt = op.args.get("format", fmt)
            chosen_quality = op.args.get("quality", chosen_quality)
            continue
        image = _apply_one(image, op)
    if output_format is not None:
        fmt = normalize_format(output_format)
    if quality is not None:
        chosen_quality = quality
    return encode_image(image, fmt, chosen_quality)

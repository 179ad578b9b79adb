"""Unit tests for the ``local.transform`` exact image operations."""

from __future__ import annotations

from io import BytesIO
from typing import Any, cast

import pytest
from jsonschema import Draft202012Validator
from PIL import Image, ImageCms

from image_skill.providers.image_output import RenderedImage
from image_skill.providers.transform_apply import apply_operations
from image_skill.providers.transform_grammar import (
    GRAMMAR_SUMMARY,
    InstructionNotUnderstood,
    parse_instructions,
)
from image_skill.providers.transform_ops import (
    OPERATIONS,
    PARAMETERS_SCHEMA,
    Operation,
    operations_from_parameters,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _encode(image: Image.Image, fmt: str = "PNG", **kwargs: Any) -> bytes:
    buf = BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _quadrants(width: int = 40, height: int = 20) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right."""
    image = Image.new("RGB", (width, height))
    hw, hh = width // 2, height // 2
    image.paste(RED, (0, 0, hw, hh))
    image.paste(GREEN, (hw, 0, width, hh))
    image.paste(BLUE, (0, hh, hw, height))
    image.paste(WHITE, (hw, hh, width, height))
    return image


def _decode(result: RenderedImage) -> Image.Image:
    image = Image.open(BytesIO(result.data))
    image.load()
    return image


def _apply(image: Image.Image, *ops: Operation, **kwargs: Any) -> Image.Image:
    result = apply_operations(_encode(image), list(ops), **kwargs)
    decoded = _decode(result)
    assert decoded.size == (result.width, result.height)
    return decoded


# --------------------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("convert to grayscale", [Operation("grayscale", {})]),
        ("Grayscale", [Operation("grayscale", {})]),
        ("black and white", [Operation("grayscale", {})]),
        ("rotate 90", [Operation("rotate", {"degrees": 90})]),
        ("rotate 90 degrees", [Operation("rotate", {"degrees": 90})]),
        ("rotate -45", [Operation("rotate", {"degrees": -45})]),
        ("rotate 90 counterclockwise", [Operation("rotate", {"degrees": -90})]),
        ("rotate 12.5", [Operation("rotate", {"degrees": 12.5})]),
        ("flip horizontally", [Operation("flip", {"direction": "horizontal"})]),
        ("flip vertical", [Operation("flip", {"direction": "vertical"})]),
        ("mirror", [Operation("flip", {"direction": "horizontal"})]),
        ("resize to 512x256", [Operation("resize", {"width": 512, "height": 256})]),
        ("scale to 50%", [Operation("resize", {"scale": 0.5})]),
        ("fit 1024", [Operation("resize", {"fit": 1024})]),
        (
            "crop to 100x50 at 10,20",
            [Operation("crop", {"left": 10, "top": 20, "width": 100, "height": 50})],
        ),
        (
            "crop 100x50+10+20",
            [Operation("crop", {"left": 10, "top": 20, "width": 100, "height": 50})],
        ),
        ("blur", [Operation("blur", {"radius": 2.0})]),
        ("blur 2.5", [Operation("blur", {"radius": 2.5})]),
        ("sharpen", [Operation("sharpen", {"percent": 150, "radius": 2.0})]),
        ("autocontrast", [Operation("autocontrast", {"cutoff": 0.0})]),
        ("auto contrast", [Operation("autocontrast", {"cutoff": 0.0})]),
        ("convert to jpg", [Operation("convert", {"format": "jpeg"})]),
        ("convert to webp", [Operation("convert", {"format": "webp"})]),
        ("quality 80", [Operation("convert", {"quality": 80})]),
    ],
)
def test_parse_single_instructions(prompt: str, expected: list[Operation]) -> None:
    assert parse_instructions(prompt) == expected


def test_parse_multiple_instructions_with_all_separators() -> None:
    ops = parse_instructions(
        "Black and white, rotate 90; crop to 10x10 at 1, 2 then blur 1 and convert to PNG."
    )
    assert [op.name for op in ops] == ["grayscale", "rotate", "crop", "blur", "convert"]
    assert ops[2].args == {"left": 1, "top": 2, "width": 10, "height": 10}
    assert ops[4].args == {"format": "png"}


@pytest.mark.parametrize(
    "prompt",
    [
        "",
        "   ",
        ", ;",
        "make my ex disappear from the photo",
        "rotate",
        "grayscale and add a unicorn",
        "crop to 10x10",
    ],
)
def test_refusal_lists_grammar_without_echoing_prompt(prompt: str) -> None:
    with pytest.raises(InstructionNotUnderstood) as info:
        parse_instructions(prompt)
    message = str(info.value)
    assert GRAMMAR_SUMMARY in message
    for private in ("my ex", "disappear", "unicorn", "10x10"):
        assert private not in message


def test_parse_out_of_range_value_is_value_error() -> None:
    with pytest.raises(ValueError, match="blur"):
        parse_instructions("blur 99")
    with pytest.raises(ValueError, match="quality"):
        parse_instructions("quality 0")


# --------------------------------------------------------------------------- parameters


GOOD_PARAMS: list[dict[str, Any]] = [
    {"operations": [{"op": "resize", "width": 512, "height": 512}, {"op": "grayscale"}]},
    {"operations": [{"op": "resize", "fit": 256}], "output_format": "webp", "quality": 80},
    {"operations": [{"op": "resize", "scale": 0.25}]},
    {"operations": [{"op": "crop", "left": 0, "top": 5, "width": 10, "height": 10}]},
    {"operations": [{"op": "rotate", "degrees": -12.5}, {"op": "flip", "direction": "vertical"}]},
    {"operations": [{"op": "blur"}, {"op": "blur", "radius": 3}, {"op": "sharpen", "percent": 80}]},
    {"operations": [{"op": "autocontrast", "cutoff": 2}, {"op": "convert", "format": "jpg"}]},
    {"operations": [{"op": "convert", "quality": 50}]},
    {"output_format": "png"},
]

BAD_PARAMS: list[tuple[dict[str, Any], str]] = [
    ({}, "operations"),
    ({"operations": []}, "operations"),
    ({"operations": [{"op": "explode"}]}, "operations[0].op"),
    ({"operations": [{"width": 5}]}, "operations[0].op"),
    ({"operations": [{"op": "grayscale", "amount": 1}]}, "operations[0]"),
    ({"operations": [{"op": "resize", "width": 10}]}, "operations[0].height"),
    ({"operations": [{"op": "resize", "width": 10, "height": 10, "fit": 3}]}, "operations[0]"),
    ({"operations": [{"op": "resize", "width": 0, "height": 10}]}, "operations[0].width"),
    ({"operations": [{"op": "resize", "width": 10.5, "height": 10}]}, "operations[0].width"),
    ({"operations": [{"op": "resize", "scale": 0}]}, "operations[0].scale"),
    ({"operations": [{"op": "grayscale"}, {"op": "blur", "radius": 0}]}, "operations[1].radius"),
    ({"operations": [{"op": "blur", "radius": True}]}, "operations[0].radius"),
    ({"operations": [{"op": "flip", "direction": "diagonal"}]}, "operations[0].direction"),
    ({"operations": [{"op": "rotate", "degrees": 400}]}, "operations[0].degrees"),
    ({"operations": [{"op": "rotate"}]}, "operations[0].degrees"),
    ({"operations": [{"op": "autocontrast", "cutoff": 50}]}, "operations[0].cutoff"),
    ({"operations": [{"op": "sharpen", "percent": 0}]}, "operations[0].percent"),
    ({"operations": [{"op": "convert"}]}, "operations[0]"),
    ({"operations": [{"op": "convert", "format": "gif"}]}, "operations[0].format"),
    (
        {"operations": [{"op": "crop", "left": -1, "top": 0, "width": 1, "height": 1}]},
        "operations[0].left",
    ),
    ({"operations": [{"op": "grayscale"}] * 33}, "operations"),
    ({"output_format": "bmp"}, "output_format"),
    ({"quality": 101}, "quality"),
    ({"operations": [{"op": "grayscale"}], "extra": 1}, "model_parameters"),
]


def test_operations_from_parameters_shape() -> None:
    ops = operations_from_parameters(GOOD_PARAMS[1])
    assert ops == [
        Operation("resize", {"fit": 256}),
        Operation("convert", {"format": "webp", "quality": 80}),
    ]
    assert operations_from_parameters({"output_format": "jpg"}) == [
        Operation("convert", {"format": "jpeg"})
    ]


@pytest.mark.parametrize("params", GOOD_PARAMS)
def test_good_parameters_accepted_by_schema_and_parser(params: dict[str, Any]) -> None:
    Draft202012Validator(PARAMETERS_SCHEMA).validate(params)
    assert operations_from_parameters(params)


@pytest.mark.parametrize(("params", "path"), BAD_PARAMS)
def test_bad_parameters_rejected_by_parser_with_path(params: dict[str, Any], path: str) -> None:
    with pytest.raises(ValueError) as info:
        operations_from_parameters(params)
    assert str(info.value).startswith(path)


@pytest.mark.parametrize(("params", "path"), BAD_PARAMS)
def test_bad_parameters_rejected_by_schema(params: dict[str, Any], path: str) -> None:
    assert not Draft202012Validator(PARAMETERS_SCHEMA).is_valid(params)


def test_schema_is_valid_and_closed_everywhere() -> None:
    Draft202012Validator.check_schema(PARAMETERS_SCHEMA)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                assert node.get("additionalProperties") is False, node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(PARAMETERS_SCHEMA)
    ops_in_schema = {
        item["properties"]["op"]["const"]
        for item in PARAMETERS_SCHEMA["properties"]["operations"]["items"]["oneOf"]
    }
    assert ops_in_schema == set(OPERATIONS)


# --------------------------------------------------------------------------- operations


def test_rotate_90_is_clockwise_and_swaps_dimensions() -> None:
    out = _apply(_quadrants(), Operation("rotate", {"degrees": 90}))
    assert out.size == (20, 40)
    assert out.getpixel((19, 0)) == RED  # top-left moved to top-right
    assert out.getpixel((0, 0)) == BLUE
    assert out.getpixel((19, 39)) == GREEN


def test_rotate_180_270_and_360() -> None:
    image = _quadrants()
    assert _apply(image, Operation("rotate", {"degrees": 180})).getpixel((0, 0)) == WHITE
    r270 = _apply(image, Operation("rotate", {"degrees": 270}))
    assert r270.size == (20, 40) and r270.getpixel((0, 0)) == GREEN
    assert _apply(image, Operation("rotate", {"degrees": -90})).tobytes() == r270.tobytes()
    assert _apply(image, Operation("rotate", {"degrees": 360})).tobytes() == image.tobytes()


def test_rotate_arbitrary_angle_expands() -> None:
    out = _apply(_quadrants(40, 40), Operation("rotate", {"degrees": 45}))
    assert 55 <= out.width <= 58 and out.width == out.height


def test_flip() -> None:
    image = _quadrants()
    horizontal = _apply(image, Operation("flip", {"direction": "horizontal"}))
    assert horizontal.getpixel((0, 0)) == GREEN and horizontal.getpixel((39, 0)) == RED
    vertical = _apply(image, Operation("flip", {"direction": "vertical"}))
    assert vertical.getpixel((0, 0)) == BLUE and vertical.getpixel((0, 19)) == RED


def test_grayscale() -> None:
    out = _apply(_quadrants(), Operation("grayscale", {}))
    assert out.mode == "L"
    rgba = Image.new("RGBA", (4, 4), (10, 200, 30, 128))
    assert _apply(rgba, Operation("grayscale", {})).mode == "LA"


def test_grayscale_to_webp_has_equal_channels() -> None:
    ops = [Operation("grayscale", {}), Operation("convert", {"format": "webp", "quality": 100})]
    out = _decode(apply_operations(_encode(_quadrants()), ops))
    assert out.format == "WEBP"
    r, g, b = out.convert("RGB").split()
    assert r.tobytes() == g.tobytes() == b.tobytes()


def test_crop() -> None:
    out = _apply(_quadrants(), Operation("crop", {"left": 18, "top": 8, "width": 4, "height": 4}))
    assert out.size == (4, 4)
    assert out.getpixel((0, 0)) == RED
    assert out.getpixel((3, 0)) == GREEN
    assert out.getpixel((0, 3)) == BLUE
    assert out.getpixel((3, 3)) == WHITE


def test_crop_outside_bounds() -> None:
    with pytest.raises(ValueError, match="outside"):
        _apply(_quadrants(), Operation("crop", {"left": 30, "top": 0, "width": 20, "height": 5}))


def test_resize_forms() -> None:
    image = _quadrants(40, 20)
    assert _apply(image, Operation("resize", {"width": 7, "height": 9})).size == (7, 9)
    assert _apply(image, Operation("resize", {"fit": 100})).size == (100, 50)
    assert _apply(image, Operation("resize", {"scale": 0.5})).size == (20, 10)


def test_resize_bounds() -> None:
    with pytest.raises(ValueError, match="8192"):
        _apply(_quadrants(1000, 10), Operation("resize", {"scale": 10}))
    # Shrinking never produces an empty side.
    assert _apply(_quadrants(40, 2), Operation("resize", {"scale": 0.1})).size == (4, 1)


def test_blur_sharpen_autocontrast_change_pixels() -> None:
    image = _quadrants()
    blurred = _apply(image, Operation("blur", {"radius": 3}))
    assert blurred.getpixel((20, 5)) not in (RED, GREEN)
    sharpened = _apply(blurred, Operation("sharpen", {"percent": 300, "radius": 2}))
    assert sharpened.tobytes() != blurred.tobytes()
    dull = Image.linear_gradient("L").point(lambda v: 100 + v // 4)
    stretched = _apply(dull, Operation("autocontrast", {"cutoff": 0}))
    lo, hi = cast(tuple[int, int], stretched.getextrema())
    assert lo == 0 and hi >= 254


def test_autocontrast_keeps_alpha() -> None:
    image = Image.new("RGBA", (2, 1))
    image.putpixel((0, 0), (100, 100, 100, 40))
    image.putpixel((1, 0), (150, 150, 150, 200))
    out = _apply(image, Operation("autocontrast", {}))
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0)) == (0, 0, 0, 40)
    assert out.getpixel((1, 0)) == (255, 255, 255, 200)


def test_keeps_input_format_unless_converted() -> None:
    jpeg = _encode(_quadrants(), "JPEG")
    result = apply_operations(jpeg, [Operation("flip", {"direction": "vertical"})])
    assert result.mime_type == "image/jpeg" and _decode(result).format == "JPEG"
    webp = _encode(_quadrants(), "WEBP")
    assert apply_operations(webp, [Operation("grayscale", {})]).mime_type == "image/webp"
    converted = apply_operations(webp, [Operation("convert", {"format": "png"})])
    assert converted.mime_type == "image/png" and _decode(converted).format == "PNG"


def test_keyword_output_format_overrides_convert_operation() -> None:
    ops = [Operation("convert", {"format": "webp"})]
    result = apply_operations(_encode(_quadrants()), ops, output_format="jpg", quality=70)
    assert result.mime_type == "image/jpeg"


def test_rgba_to_jpeg_becomes_rgb() -> None:
    rgba = Image.new("RGBA", (8, 8), (0, 0, 255, 255))
    out = _decode(apply_operations(_encode(rgba), [Operation("convert", {"format": "jpeg"})]))
    assert out.format == "JPEG" and out.mode == "RGB"


def test_gif_uses_first_frame_and_outputs_png() -> None:
    frames = [Image.new("RGB", (10, 10), RED), Image.new("RGB", (10, 10), BLUE)]
    gif = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    result = apply_operations(gif, [Operation("flip", {"direction": "horizontal"})])
    out = _decode(result)
    assert result.mime_type == "image/png"
    assert out.convert("RGB").getpixel((5, 5)) == RED


def test_exif_is_stripped_and_orientation_applied() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    jpeg = _encode(_quadrants(40, 20), "JPEG", exif=exif, quality=95)
    assert Image.open(BytesIO(jpeg)).getexif()
    result = apply_operations(jpeg, [Operation("grayscale", {})])
    out = _decode(result)
    assert out.format == "JPEG"
    assert not out.getexif()
    assert "exif" not in out.info
    assert b"SecretCam" not in result.data
    assert out.size == (20, 40)  # displayed orientation was baked in


def test_icc_and_text_metadata_stripped_from_png() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "private note")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    png = _encode(_quadrants(), "PNG", pnginfo=info, icc_profile=icc)
    result = apply_operations(png, [Operation("blur", {"radius": 1})])
    out = _decode(result)
    assert "icc_profile" not in out.info and "Comment" not in out.info
    assert b"private note" not in result.data


def test_undecodable_input() -> None:
    with pytest.raises(ValueError, match="decodable"):
        apply_operations(b"definitely not an image", [Operation("grayscale", {})])
    with pytest.raises(ValueError, match="empty"):
        apply_operations(b"", [Operation("grayscale", {})])


def test_apply_revalidates_operations() -> None:
    with pytest.raises(ValueError, match=r"operations\[0\]"):
        apply_operations(_encode(_quadrants()), [Operation("blur", {"radius": 500})])


def test_prompt_to_pixels_end_to_end() -> None:
    ops = parse_instructions("rotate 90, crop to 10x10 at 0,0 then convert to webp quality 90")
    result = apply_operations(_encode(_quadrants()), ops)
    out = _decode(result)
    assert result.mime_type == "image/webp" and out.size == (10, 10)

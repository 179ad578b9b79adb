"""The CLI and the service agree on the upload limit: one constant, ``MAX_UPLOAD_BYTES``.

The CLI used to refuse files over 25 MiB while the service refused over 20 MiB, so a
21 MiB image passed the CLI's check, was sent whole and then refused by the server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from image_skill.cli import uploads
from image_skill.contract.errors import ImageSkillError
from image_skill.imaging.limits import MAX_UPLOAD_BYTES, InputLimits
from image_skill.service.settings import Settings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def png_headed_file(path: Path, size: int) -> str:
    """A file of ``size`` bytes that starts like a PNG (the rest is a sparse hole)."""
    with path.open("wb") as handle:
        handle.write(PNG_SIGNATURE)
        handle.truncate(size)
    return str(path)


def test_one_constant_is_the_service_default_the_decode_bound_and_the_cli_limit() -> None:
    assert Settings.model_fields["max_upload_bytes"].default == MAX_UPLOAD_BYTES
    assert InputLimits().max_bytes == MAX_UPLOAD_BYTES
    assert uploads.MAX_UPLOAD_BYTES == MAX_UPLOAD_BYTES == 20 * 1024 * 1024


def test_the_cli_refuses_one_byte_over_the_service_limit_and_reads_one_at_it(
    tmp_path: Path,
) -> None:
    over = png_headed_file(tmp_path / "over.png", MAX_UPLOAD_BYTES + 1)
    with pytest.raises(ImageSkillError) as refused:
        uploads.read_local(over)
    assert refused.value.code == "INVALID_ARGUMENTS"
    assert str(MAX_UPLOAD_BYTES) in refused.value.message
    at_limit = uploads.read_local(png_headed_file(tmp_path / "at.png", MAX_UPLOAD_BYTES))
    assert len(at_limit.content) == MAX_UPLOAD_BYTES

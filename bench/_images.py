"""Incompressible test images and the upload request the media and upload benchmarks share."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os

from PIL import Image


def noise_png(target_bytes: int) -> bytes:
    """A PNG of random RGB pixels (so about ``target_bytes`` long: noise does not compress)."""
    side = math.isqrt(target_bytes // 3) + 1
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def upload_body(data: bytes) -> bytes:
    """The JSON body of ``POST /v1/upload`` for ``data``."""
    return json.dumps(
        {
            "source_kind": "local_path",
            "filename": "bench.png",
            "mime_type": "image/png",
            "content_length": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes_base64": base64.b64encode(data).decode(),
        }
    ).encode()

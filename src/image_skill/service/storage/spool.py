"""Provider output kept aside when the asset store failed.

A paid generation is never thrown away: the bytes wait under
``<home>/spool/<job_id>/`` so the job can be repaired without a second call.
"""

from __future__ import annotations

import os
from pathlib import Path

from image_skill.providers.base import GeneratedImage


def spool_outputs(root: Path, job_id: str, images: list[GeneratedImage]) -> str | None:
    """Write outputs to the spool; returns the spool reference, or None if that failed too."""
    folder = root / job_id
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for index, image in enumerate(images):
            extension = image.mime_type.split("/")[-1].replace("jpeg", "jpg")
            path = folder / f"{index}.{extension}"
            with path.open("wb") as handle:
                handle.write(image.data)
                handle.flush()
                os.fsync(handle.fileno())
    except OSError:
        return None
    return f"spool:{job_id}"

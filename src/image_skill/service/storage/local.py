"""Asset store on the local filesystem: temp file + fsync + rename, so readers
never see a half-written object."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import anyio

from image_skill.service.storage.base import StoreError, content_key


class LocalAssetStore:
    """Content-addressed files under ``root``."""

    backend = "local_filesystem"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _write(self, data: bytes, key: str) -> None:
        target = self.root / key
        if target.exists() and target.stat().st_size == len(data):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, data: bytes, *, sha256: str, extension: str) -> str:
        """Write once per content."""
        key = content_key(sha256, extension)
        try:
            await anyio.to_thread.run_sync(self._write, data, key)
        except OSError as exc:
            raise StoreError("asset write failed") from exc
        return key

    async def get(self, key: str) -> bytes:
        """Read an object."""
        try:
            return await anyio.to_thread.run_sync((self.root / key).read_bytes)
        except OSError as exc:
            raise StoreError("asset read failed") from exc

    def local_path(self, key: str) -> Path | None:
        """Objects are plain files."""
        return self.root / key

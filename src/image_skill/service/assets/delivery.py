"""How an asset's bytes leave the service: file slices for the local store, a stream otherwise.

A media download is mostly copying, so what costs is everything per chunk:
Starlette's ``StreamingResponse`` over ``anyio`` file reads paid a worker-thread
hop per chunk, an async generator, and a task group per response. For the local
store, ``FileSliceResponse`` instead reads each chunk with ``os.pread`` straight
on the event loop and hands it to ``send``; a read from the page cache costs
less than the thread hop it replaces (nginx, the yardstick of bench/media.py,
reads on its event loop too). Memory stays bounded whatever the file size: one
chunk in hand, and at most about one more in the server's write buffer, since
``send`` waits for the socket to drain.

Not used, on purpose: ``mmap`` (a file truncated under a mapping kills the
process with SIGBUS instead of ending one response), ``sendfile`` (uvicorn has
no ASGI path to it, and uvloop implements no ``loop.sendfile``), and reusing
one buffer across chunks (the transport may still hold the last one).

A file that is missing, short or unreadable before the headers go out is
ASSET_DOWNLOAD_FAILED; one truncated or failing mid-download ends the response
with ``MediaInterrupted`` (the server closes the connection, so the client sees
a short body against its Content-Length), never a hang. Messages carry no path.
"""

from __future__ import annotations

import asyncio
import io
import os

from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from image_skill.service.assets.media import MediaFacts, unavailable
from image_skill.service.storage.base import AssetStore, StoreError
from image_skill.service.storage.local import LocalAssetStore

# Bytes per read and per ASGI message. Fewer, larger messages cost less per byte,
# but each is a fresh allocation (its pages faulted in, a copy of the cache) held
# until the socket takes it; 256 KiB measured best at c=1 and c=10 (bench/RESULTS.md).
SLICE_BYTES = 256 * 1024
# How many bytes may go out between two yields to the event loop: after a client
# disconnects, uvicorn's ``send`` returns at once, so without this a large file
# would be read to its end in one go before the disconnect could be noticed.
YIELD_EVERY_BYTES = 16 * SLICE_BYTES


class MediaInterrupted(Exception):
    """The stored file ended early or failed after the response had started."""


class FileSliceResponse(Response):
    """The first ``length`` bytes of an open file, read a slice at a time (closes the file)."""

    def __init__(
        self, file: io.FileIO, length: int, *, headers: dict[str, str], media_type: str
    ) -> None:
        super().__init__(status_code=200, headers=headers, media_type=media_type)
        self.file = file
        self.length = length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the headers, then the slices; stop early if the client goes away."""
        with self.file:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            watcher = asyncio.ensure_future(_disconnected(receive))
            try:
                await self._send_slices(send, watcher)
            finally:
                watcher.cancel()

    async def _send_slices(self, send: Send, watcher: asyncio.Future[None]) -> None:
        fd = self.file.fileno()
        sent = unyielded = 0
        if not self.length:  # an empty file: the body still has to end
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        while sent < self.length:
            try:
                chunk = os.pread(fd, min(SLICE_BYTES, self.length - sent), sent)
            except OSError:
                raise MediaInterrupted("the asset's file could not be read") from None
            if not chunk:
                raise MediaInterrupted("the asset's file ended before its length")
            sent += len(chunk)
            await send(
                {"type": "http.response.body", "body": chunk, "more_body": sent < self.length}
            )
            unyielded += len(chunk)
            if unyielded >= YIELD_EVERY_BYTES:
                unyielded = 0
                await asyncio.sleep(0)
                if watcher.done():
                    return


async def _disconnected(receive: Receive) -> None:
    """Returns when the client has gone (or the server reports the response done)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def stored_bytes(store: AssetStore, facts: MediaFacts, headers: dict[str, str]) -> Response:
    """The response carrying the asset's bytes; ASSET_DOWNLOAD_FAILED if the store fails now."""
    if isinstance(store, LocalAssetStore):
        try:
            file = store.open_file(facts.storage_key, facts.content_length)
        except StoreError as exc:
            raise unavailable() from exc
        return FileSliceResponse(
            file, facts.content_length, headers=headers, media_type=facts.mime_type
        )
    try:
        chunks = await store.open(facts.storage_key)
    except StoreError as exc:
        raise unavailable() from exc
    return StreamingResponse(chunks, media_type=facts.mime_type, headers=headers)

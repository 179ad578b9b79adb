"""A small closed-loop HTTP/1.1 load generator for the benchmark scripts.

``concurrency`` keep-alive connections each send their next request as soon
as the previous answer is read; per-request latencies and the wall time give
p50 and requests per second. Raw asyncio streams, not an HTTP library, so the
client costs far less per request than any server it measures.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    """What one load point measured."""

    latencies_ms: list[float]
    wall_s: float
    statuses: dict[int, int] = field(default_factory=dict)
    body_bytes: int = 0
    cpu_ms: float | None = None  # the server's CPU per request, when measured

    @property
    def p50(self) -> float:
        """Median latency (ms)."""
        return statistics.median(self.latencies_ms)

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return len(self.latencies_ms) / self.wall_s


def request_bytes(
    method: str,
    host: str,
    port: int,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> bytes:
    """One HTTP/1.1 keep-alive request, serialized."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in header_lines:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        length = int(headers["content-length"])
        await reader.readexactly(length)
        return status, length
    if headers.get("transfer-encoding", "").lower() == "chunked":
        total = 0
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            total += size
            if size == 0:
                return status, total
    raise RuntimeError("response without a length")


async def _worker(
    host: str, port: int, payload: bytes, remaining: list[int], result: Result
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while remaining[0] > 0:
            remaining[0] -= 1
            start = time.perf_counter()
            writer.write(payload)
            status, length = await _read_response(reader)
            result.latencies_ms.append((time.perf_counter() - start) * 1000)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.body_bytes += length
    finally:
        writer.close()


async def _run(host: str, port: int, payload: bytes, total: int, concurrency: int) -> Result:
    result = Result([], 0.0)
    remaining = [total]
    start = time.perf_counter()
    await asyncio.gather(
        *(_worker(host, port, payload, remaining, result) for _ in range(concurrency))
    )
    result.wall_s = time.perf_counter() - start
    return result


def run_load(host: str, port: int, payload: bytes, total: int, concurrency: int) -> Result:
    """Send ``payload`` ``total`` times over ``concurrency`` connections; the figures."""
    return asyncio.run(_run(host, port, payload, total, concurrency))

"""Tracebacks for the log without exception messages.

An exception's message can carry what must never reach a log: a prompt echoed
by a provider SDK, an upstream URL with a signed token, SQL parameters. The
types and the frames (file, line, function) are what an operator needs to find
the bug; source lines are left out too, since a literal there can hold the
same text. The trace id links the log line to the failed call.
"""

from __future__ import annotations

import traceback


def redacted_traceback(exc: BaseException) -> str:
    """``exc``'s traceback (causes and contexts included) with every message withheld."""
    blocks: list[str] = []
    seen: set[int] = set()
    current: traceback.TracebackException | None = traceback.TracebackException.from_exception(
        exc, lookup_lines=False
    )
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        exc_type = current.exc_type
        name = f"{exc_type.__module__}.{exc_type.__qualname__}" if exc_type else "exception"
        frames = "".join(
            f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n'
            for frame in current.stack
        )
        blocks.append(f"Traceback (most recent call last):\n{frames}{name}: <message withheld>")
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    blocks.reverse()  # like Python: the earliest exception first
    return "\n\nwhich led to:\n\n".join(blocks)

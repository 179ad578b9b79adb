"""Path and query parameters that carry ids (and page sizes), checked before any lookup.

Routes annotate their id parameters with these types instead of a bare ``str``,
so a malformed id (a NUL byte, a space, an over-long value) is refused by
request validation as ``INVALID_ARGUMENTS`` naming the parameter and never
reaches the database, and the OpenAPI document states the shape. A value of
the right shape that names nothing stays the route's own ``NOT_FOUND``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from image_skill.contract.ids import (
    ID_PATTERN,
    MAX_ASSET_ID_LENGTH,
    MAX_ID_LENGTH,
    MAX_REFERENCE_LENGTH,
)


def id_path(max_length: int, description: str, example: str | None = None) -> object:
    """A ``Path`` for an id parameter of at most ``max_length`` characters."""
    examples = [example] if example is not None else None
    return Path(
        pattern=ID_PATTERN, max_length=max_length, description=description, examples=examples
    )


def id_query(max_length: int = MAX_ID_LENGTH, description: str | None = None) -> object:
    """A ``Query`` for an optional id parameter of at most ``max_length`` characters."""
    return Query(pattern=ID_PATTERN, max_length=max_length, description=description)


_JOB_EXAMPLE = "job_01jz0000000000000000000000"

JobId = Annotated[str, id_path(MAX_ID_LENGTH, "A job id (job_...).", _JOB_EXAMPLE)]
AssetId = Annotated[
    str,
    id_path(
        MAX_ASSET_ID_LENGTH,
        "An asset id (image_..., asset_...).",
        "image_01jz0000000000000000000000",
    ),
]
ReferencePath = Annotated[
    str,
    id_path(
        MAX_REFERENCE_LENGTH,
        "An id this service issued (evt_, job_, image_, usage_, sig_, trace_ ...).",
        _JOB_EXAMPLE,
    ),
]
ClaimId = Annotated[str, id_path(MAX_ID_LENGTH, "A claim id.")]
OptionalIdQuery = Annotated[str | None, id_query()]
OptionalReferenceQuery = Annotated[str | None, id_query(MAX_REFERENCE_LENGTH)]
# How many rows one page of a list answers (``next_cursor`` pages on).
PageLimit = Annotated[int, Query(ge=1, le=100)]

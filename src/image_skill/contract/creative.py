"""The options of one create or edit, defined once for the CLI and the SDK.

The CLI fills a ``CreativeOptions`` from its flags and the SDK turns it into
the JSON body; the service validates the same field names with its pydantic
schemas (a test keeps the two in step). Stdlib only: the hosted CLI imports
this before any network call.

What goes on the wire keeps 0.1.0 compatibility: the fields CONTRACT.md lists
as always present for an operation are always sent (``dry_run`` is one for
create, not for edit, where it came later); every other field is sent only
when it differs from the service's default (``None`` or ``False``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

CreativeOperation = Literal["create", "edit"]

DEFAULT_ASPECT_RATIO: dict[CreativeOperation, str] = {"create": "1:1", "edit": "auto"}

ALWAYS_SENT: dict[CreativeOperation, frozenset[str]] = {
    "create": frozenset({"prompt", "aspect_ratio", "dry_run", "accept_unknown_cost"}),
    "edit": frozenset({"prompt", "aspect_ratio", "accept_unknown_cost"}),
}


# RFC 7240: answer 202 with the queued job at once instead of waiting for it
# (the CLI's ``--no-wait``); a header, not a body field, so 0.1.0 bodies stay the same.
RESPOND_ASYNC = {"Prefer": "respond-async"}


@dataclass(frozen=True)
class CreativeOptions:
    """How to make one image: the fields create and edit share (CONTRACT.md)."""

    prompt: str
    provider: str | None = None
    model: str | None = None
    intent: str | None = None
    # None: the operation's default (DEFAULT_ASPECT_RATIO).
    aspect_ratio: str | None = None
    max_estimated_usd_per_image: float | None = None
    max_usd: float | None = None
    model_parameters: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    dry_run: bool = False
    accept_unknown_cost: bool = False
    # Claimed agents only: a public https URL for the signed completion webhook.
    webhook_url: str | None = None

    def body(
        self, operation: CreativeOperation, *, input_asset_id: str | None = None
    ) -> dict[str, Any]:
        """The JSON body of ``POST /v1/<operation>`` (an edit names its input asset)."""
        if (operation == "edit") != (input_asset_id is not None):
            raise ValueError("an edit, and only an edit, names input_asset_id")
        always = ALWAYS_SENT[operation]
        body: dict[str, Any] = {} if input_asset_id is None else {"input_asset_id": input_asset_id}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name == "aspect_ratio" and value is None:
                value = DEFAULT_ASPECT_RATIO[operation]
            if spec.name in always or (value is not None and value is not False):
                body[spec.name] = value
        return body

"""What an admitted job needs to run, as plain data that can leave the process.

Admission writes the order to ``job_orders`` in the transaction that admits
the job; whichever executor claims the job (this request, the server's own
task group, or a worker on another machine) reads it back. The input image's
bytes are not in the payload: the executor reads them again from the asset
store by ``input_asset_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, cast

from image_skill.providers.base import Operation
from image_skill.service.catalog.pricing import PriceEstimate
from image_skill.service.creative.plan import Plan


@dataclass(frozen=True)
class Order:
    """One admitted job's request: prompt, resolved choices, price, key and trace."""

    job_id: str
    operation: Operation
    model_id: str
    prompt: str
    intent: str | None
    parameters: dict[str, Any]
    aspect_ratio: str
    output_format: str | None
    input_asset_id: str | None
    input_images: tuple[bytes, ...]
    cost: PriceEstimate
    idempotency_key: str | None
    trace_id: str
    # The base URL asset links are built on (the admitting request's, unless a
    # public or media base is configured); None in embedded mode.
    base_url: str | None = None
    # Set when the job was re-queued after its executor died mid provider call.
    provider_request_id: str | None = None

    @classmethod
    def of(cls, plan: Plan, job_id: str, trace_id: str, base_url: str | None) -> Order:
        """The order for the job admitted from ``plan``."""
        return cls(
            job_id=job_id,
            operation=plan.operation,
            model_id=plan.model_id,
            prompt=plan.prompt,
            intent=plan.intent,
            parameters=plan.parameters,
            aspect_ratio=plan.aspect_ratio,
            output_format=plan.output_format,
            input_asset_id=plan.input_asset.id if plan.input_asset else None,
            input_images=(plan.input_bytes,) if plan.input_bytes is not None else (),
            cost=plan.price,
            idempotency_key=plan.idempotency_key,
            trace_id=trace_id,
            base_url=base_url,
        )

    def payload(self) -> dict[str, Any]:
        """The JSON stored in ``job_orders`` (everything but the input bytes)."""
        return {
            "operation": self.operation,
            "model_id": self.model_id,
            "prompt": self.prompt,
            "intent": self.intent,
            "parameters": self.parameters,
            "aspect_ratio": self.aspect_ratio,
            "output_format": self.output_format,
            "input_asset_id": self.input_asset_id,
            "cost": {
                "outputs": self.cost.outputs,
                "provider_usd_per_image": self.cost.provider_usd_per_image,
                "credits_required": self.cost.credits_required,
                "confidence": self.cost.confidence,
            },
            "idempotency_key": self.idempotency_key,
            "trace_id": self.trace_id,
            "base_url": self.base_url,
        }

    @classmethod
    def from_payload(cls, job_id: str, payload: dict[str, Any]) -> Order:
        """The order stored for ``job_id`` (input bytes still to be read)."""
        cost = payload["cost"]
        return cls(
            job_id=job_id,
            operation=cast(Operation, payload["operation"]),
            model_id=payload["model_id"],
            prompt=payload["prompt"],
            intent=payload.get("intent"),
            parameters=dict(payload.get("parameters") or {}),
            aspect_ratio=payload["aspect_ratio"],
            output_format=payload.get("output_format"),
            input_asset_id=payload.get("input_asset_id"),
            input_images=(),
            cost=PriceEstimate(
                outputs=int(cost["outputs"]),
                provider_usd_per_image=cost.get("provider_usd_per_image"),
                credits_required=int(cost["credits_required"]),
                confidence=str(cost["confidence"]),
            ),
            idempotency_key=payload.get("idempotency_key"),
            trace_id=payload["trace_id"],
            base_url=payload.get("base_url"),
        )

    def resuming(self, provider_request_id: str | None) -> Order:
        """The same order, resuming ``provider_request_id`` when there is one."""
        return replace(self, provider_request_id=provider_request_id)

    def with_input(self, data: bytes) -> Order:
        """The same order carrying the input image's bytes."""
        return replace(self, input_images=(data,))

"""``POST /v1/feedback``: structured product feedback from agents."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from image_skill.service.deps import CurrentPrincipal
from image_skill.service.envelopes import answers
from image_skill.service.feedback.schemas import FeedbackAnswer, FeedbackRequest, FeedbackStored
from image_skill.service.feedback.service import submit
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import outcome_response, trace_id_of

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401))


@router.post(
    "/v1/feedback",
    name="image-skill feedback create",
    **answers(FeedbackStored, status=201, others={200: FeedbackAnswer}),
)
async def create_feedback(
    body: FeedbackRequest, request: Request, principal: CurrentPrincipal
) -> JSONResponse:
    """Store a feedback signal (201), merge a repeat of its ``dedupe_key`` (200), or refuse
    to store text that looks like a secret (200, ``stored: false``).

    The write is its own transaction, committed before the answer: a storage failure
    answers FEEDBACK_STORAGE_UNAVAILABLE, never a success that was not kept.
    """
    outcome = await submit(request.app.state.engine, principal, body, trace_id=trace_id_of(request))
    return outcome_response(request, outcome)

"""All console routes under ``/console``, as one router for the app to include."""

from __future__ import annotations

from fastapi import APIRouter

from image_skill.service.console import auth_routes, gallery_routes, ledger_routes, steering_routes
from image_skill.service.guarded_route import GuardedRoute

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)
for _part in (auth_routes, gallery_routes, ledger_routes, steering_routes):
    router.include_router(_part.router)

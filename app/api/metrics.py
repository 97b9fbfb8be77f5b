"""GET /metrics for Prometheus: to the bearer token or the listed networks; any other
caller gets the same 404 as a path that does not exist (the endpoint is not advertised)."""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.deps import ClockDep, EngineDep, SettingsDep, client_address
from app.errors import NotFound
from app.flows.metrics import exposition
from app.metrics import scrape_allowed

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics(
    request: Request, settings: SettingsDep, engine: EngineDep, clock: ClockDep
) -> Response:
    if not scrape_allowed(settings, client_address(request), request.headers.get("authorization")):
        raise NotFound("Not Found")
    body = exposition(engine, clock)
    return Response(body, media_type=CONTENT_TYPE_LATEST)

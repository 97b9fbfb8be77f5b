"""GET /metrics for Prometheus: to the bearer token or the listed networks; any other
caller gets the same 404 as a path that does not exist (the endpoint is not advertised)."""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.errors import NotFound
from app.flows.metrics import exposition
from app.metrics import scrape_allowed

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    settings = request.app.state.settings
    host = request.client.host if request.client else None
    if not scrape_allowed(settings, host, request.headers.get("authorization")):
        raise NotFound("Not Found")
    body = exposition(request.app.state.engine, request.app.state.clock)
    return Response(body, media_type=CONTENT_TYPE_LATEST)

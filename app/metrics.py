"""Prometheus metrics counted where things happen, the rule for who may scrape them, and
the middleware that counts requests.

The counters live in this plumbing module so that domains count their own events without
importing the web layer. They are per process: with several replicas each is scraped on
its own (Prometheus sums them by `instance`); what is read from the database at scrape
time (app/flows/metrics.py) is the same from every replica. No label ever carries a
participant's or a study's identifier: routes are counted by their template.
"""

import hmac
import ipaddress
import logging
import time
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.settings import Settings

_access_log = logging.getLogger("kairos.http")

# Seconds: a request, a job run; minutes to hours: a push's lag, an event left open.
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_SLOW = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)

REQUESTS = Counter(
    "kairos_http_requests",
    "HTTP requests by route template and status",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "kairos_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    buckets=_FAST,
)
CHECKINS = Counter(
    "kairos_checkins",
    "Check-ins received: stored on time, stored late (their prompt had closed), or a "
    "duplicate (a retry answered with the stored response)",
    ["outcome"],
)
SAFETY_EVENTS = Counter("kairos_safety_events", "Safety events opened, by tier", ["tier"])
SAFETY_ACKNOWLEDGED_AFTER = Histogram(
    "kairos_safety_event_acknowledged_after_seconds",
    "How long safety events stayed unacknowledged, observed when acknowledged",
    ["tier"],
    buckets=_SLOW,
)
DISPATCH_LAG = Histogram(
    "kairos_dispatch_lag_seconds",
    "From a prompt's scheduled time to the push service's acknowledgement of its first push",
    buckets=_SLOW,
)
PUSH_OUTCOMES = Counter(
    "kairos_push_outcomes",
    "Push attempts by kind, outcome and the push service's error code (empty when none)",
    ["kind", "outcome", "error_code"],
)
JOB_SECONDS = Histogram(
    "kairos_job_duration_seconds", "Run time of the worker's jobs", ["job"], buckets=_FAST
)
JOB_FAILURES = Counter("kairos_job_failures", "Job runs that raised", ["job"])
JOB_LAST_SUCCESS = Gauge(
    "kairos_job_last_success_timestamp_seconds", "When each job last finished", ["job"]
)


def checkin_received(late: bool) -> None:
    CHECKINS.labels("late" if late else "on_time").inc()


def push_attempted(kind: str, outcome: str, error_code: str | None) -> None:
    PUSH_OUTCOMES.labels(kind, outcome, error_code or "").inc()


def prompt_sent(scheduled_at: datetime, acknowledged_at: datetime) -> None:
    DISPATCH_LAG.observe(max((acknowledged_at - scheduled_at).total_seconds(), 0.0))


def safety_acknowledged(tier: str, opened_at: datetime, acknowledged_at: datetime) -> None:
    SAFETY_ACKNOWLEDGED_AFTER.labels(tier).observe((acknowledged_at - opened_at).total_seconds())


def scrape_allowed(settings: Settings, client_host: str | None, authorization: str | None) -> bool:
    """The configured bearer token, or a caller from one of the listed networks."""
    token = settings.metrics_token
    if token is not None and authorization is not None:
        scheme, _, given = authorization.partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return True
    try:
        address = ipaddress.ip_address(client_host or "")
    except ValueError:
        return False
    return any(address in network for network in settings.metrics_networks)


def _route_of(scope: Scope) -> str:
    # The matched route's template; a path that matched none is counted as one bucket,
    # so neither identifiers nor scanners' paths become label values.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestMetricsMiddleware:
    """Counts and times every request by route template and status, and writes one access
    log line (the template, never the raw path: paths hold identifiers and codes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            seconds = time.perf_counter() - started
            method, route = scope["method"], _route_of(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            REQUEST_SECONDS.labels(method, route).observe(seconds)
            _access_log.info(
                "%s %s %d %.1f ms", method, route, status, seconds * 1000, extra={"status": status}
            )

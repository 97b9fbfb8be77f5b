"""create_app(): routers, error handlers, middleware, lifespan."""

import logging
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Engine

from app.admission import AdmissionMiddleware
from app.api import (
    auth,
    boundary,
    checkins,
    exports,
    fhir,
    health,
    me,
    metrics,
    mrt,
    participants,
    plans,
    prompts,
    questionnaires,
    rules,
    safety,
    schedules,
    skills,
    studies,
)
from app.api.contract import contract_openapi, declare_problems
from app.auth.security import absent_account_hash
from app.bodylimit import BodyLimitMiddleware
from app.clock import Clock, SystemClock
from app.console import SECURITY_HEADERS as CONSOLE_HEADERS
from app.console import mount as mount_console
from app.db import make_engine
from app.errors import UnhandledErrorMiddleware, install_error_handlers
from app.logs import RequestScopeMiddleware
from app.metrics import RequestMetricsMiddleware
from app.migrate import require_current_schema
from app.participant_app import SECURITY_HEADERS as PARTICIPANT_APP_HEADERS
from app.participant_app import mount as mount_participant_app
from app.push import sender_from_settings
from app.push.base import PushSender
from app.requestid import RequestIdMiddleware
from app.scheduling.dispatch import WorkerRefused, worker_lock
from app.securityheaders import SecurityHeadersMiddleware
from app.settings import Settings
from app.worker import Jobs, default_worker_id, schedule_jobs

DESCRIPTION = """Kairos: ecological momentary interventions with tailored ACT skill coaching.

Staff sign in at `/v1/auth/token` (OAuth2 password flow) and send `Authorization: Bearer
<jwt>`. Participants' phones send their participant token the same way. Every error is
`application/problem+json` with a stable `code`.
"""


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    clock: Clock | None = None,
    sender: PushSender | None = None,
) -> FastAPI:
    settings = settings or Settings()
    engine = engine or make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        require_current_schema(engine)
        with ExitStack() as stack:
            if settings.scheduler_enabled:
                _start_jobs(stack, app, settings, engine)
            yield

    app = FastAPI(
        title="Kairos",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Before every other dependency of every route: text and numbers no database stores.
        dependencies=[Depends(boundary.refuse_unstorable_input)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock or SystemClock()
    # One sender for the test-push route and the in-process jobs.
    app.state.sender = sender or sender_from_settings(settings, app.state.clock)
    install_error_handlers(app)
    # Computed now, so that no sign-in for an unknown account pays for it.
    absent_account_hash(settings)
    # Innermost: admitted with its body in hand, a request waits for no client.
    app.add_middleware(AdmissionMiddleware, checkins_at_once=settings.checkins_at_once)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        max_drained_bytes=settings.max_drained_body_bytes,
    )
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(RequestScopeMiddleware)
    app.add_middleware(RequestIdMiddleware)
    if settings.cors_origin_list:
        # For a study's own app served from another origin; bearer tokens, never cookies,
        # so no credentials mode (the console's session cookie stays same-site).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Accept-Language"],
            expose_headers=["Retry-After", "X-Request-ID", "Content-Disposition"],
            max_age=600,
        )
    # Outermost of ours, so refusals of the layers inside carry the headers too.
    app.add_middleware(
        SecurityHeadersMiddleware,
        by_prefix={"/console": CONSOLE_HEADERS, "/app": PARTICIPANT_APP_HEADERS},
    )
    for router in (
        health.router,
        auth.router,
        studies.router,
        participants.router,
        me.router,
        schedules.router,
        prompts.router,
        questionnaires.router,
        questionnaires.packs_router,
        rules.router,
        skills.router,
        safety.router,
        checkins.staff_router,
        checkins.router,
        exports.router,
        fhir.router,
        plans.router,
        plans.staff_router,
        mrt.router,
        metrics.router,
    ):
        declare_problems(router)
        app.include_router(router)
    mount_console(app)
    mount_participant_app(app)
    app.openapi = lambda: contract_openapi(app)  # type: ignore[method-assign]
    return app


def _start_jobs(stack: ExitStack, app: FastAPI, settings: Settings, engine: Engine) -> None:
    """Run the worker's jobs in-process (the embedded default); on SQLite only if no other
    worker holds the database."""
    try:
        stack.enter_context(worker_lock(settings.database_url))
    except WorkerRefused as exc:
        logging.getLogger("kairos.worker").warning("in-process jobs not started: %s", exc)
        return
    scheduler = BackgroundScheduler(timezone="UTC")
    jobs = Jobs(engine, app.state.sender, app.state.clock, settings, default_worker_id())
    schedule_jobs(scheduler, jobs)
    scheduler.start()
    stack.callback(scheduler.shutdown, wait=False)

"""create_app(): routers, error handlers, middleware, lifespan."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from app.api import auth, exports, health, me, participants, studies
from app.bodylimit import BodyLimitMiddleware
from app.clock import Clock, SystemClock
from app.db import make_engine
from app.errors import install_error_handlers
from app.migrate import require_current_schema
from app.requestid import RequestIdMiddleware
from app.settings import Settings

DESCRIPTION = """Kairos: ecological momentary interventions with tailored ACT skill coaching.

Staff sign in at `/v1/auth/token` (OAuth2 password flow) and send `Authorization: Bearer
<jwt>`. Participants' phones send their participant token the same way. Every error is
`application/problem+json` with a stable `code`.
"""


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, clock: Clock | None = None
) -> FastAPI:
    settings = settings or Settings()
    engine = engine or make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        require_current_schema(engine)
        yield

    app = FastAPI(title="Kairos", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock or SystemClock()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    for module in (health, auth, studies, participants, me, exports):
        app.include_router(module.router)
    return app

"""Logging for `kairos serve` and `kairos worker`: human-readable lines (the default) or
JSON lines (KAIROS_LOG_FORMAT=json), each with the request id and, where the route names
one, the study id.

What our loggers write is chosen to hold no answers, plan texts, tokens or emails: the
access line names the route template, not the path, and the push log a token's prefix.
"""

import logging
import sys
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Receive, Scope, Send

from app.requestid import current_request_id
from app.settings import Settings

# The request's ASGI scope: the router writes the matched path parameters into it, so a
# log line written while the request runs can name its study.
_request_scope: ContextVar[Scope | None] = ContextVar("request_scope", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message", "request_id", "study_id")


class RequestContextFilter(logging.Filter):
    """Adds `request_id` and `study_id` (None outside a request or a study's route)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        scope = _request_scope.get()
        params: dict[str, Any] = scope.get("path_params", {}) if scope is not None else {}
        study = params.get("study_id")
        record.study_id = str(study) if study is not None else None
        return True


class RequestScopeMiddleware:
    """Makes the running request's scope visible to the log filter."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _request_scope.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _request_scope.reset(token)


def make_handler(settings: Settings, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestContextFilter())
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                list(JSON_FIELDS),
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(settings: Settings) -> None:
    """One handler on the root logger; uvicorn's loggers propagate to it (the server is
    started without a logging configuration of its own)."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(make_handler(settings))
    root.setLevel(settings.log_level)

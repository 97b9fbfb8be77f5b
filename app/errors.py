"""Errors as application/problem+json (RFC 9457) with a stable `code`."""

import logging
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.requestid import current_request_id

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("kairos.errors")


class ProblemField(BaseModel):
    field: str = Field(description="Where: `body.`, `query.`, `path.` or `header.` and the path")
    message: str
    type: str | None = Field(default=None, description="The validator's error type, if any")


class ProblemOut(BaseModel):
    """The body of every error (RFC 9457 problem details), for the OpenAPI document."""

    type: str = Field(default="about:blank")
    title: str
    status: int
    code: str = Field(description="Stable, machine-readable reason")
    detail: str
    request_id: str | None = Field(description="Quote it when you report a failure")
    errors: list[ProblemField] | None = Field(
        default=None, description="Every invalid field, for a 422"
    )


class Problem(Exception):
    """A failure the client should see; raised anywhere below the routers."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.errors = list(errors or [])
        self.headers = headers or {}


class Unauthorized(Problem):
    status, code, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(Problem):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(Problem):
    status, code, title = 404, "not_found", "Not found"


class Conflict(Problem):
    status, code, title = 409, "conflict", "Conflict"


# Where a request's field came from: every field a problem names starts with one of these
# (`option.` and `--name` from the command line).
LOCATIONS = ("body", "query", "path", "header", "option")
_LOCATED = re.compile(rf"^(({'|'.join(LOCATIONS)})([.\[]|$)|--[a-z])")


def located(field: str) -> str:
    """The field path as named in a problem, refused unless it starts with its location
    (`body.arms[1].key`, `query.end`, `path.email`): clients read the same prefixes in
    FastAPI's own validation errors and in ours."""
    if not _LOCATED.match(field):
        raise ValueError(f"field path {field!r} does not start with one of {LOCATIONS}")
    return field


class Invalid(Problem):
    """Semantic validation failure of a well-formed request: 422 naming the field."""

    status, code, title = 422, "validation_error", "Validation error"

    def __init__(self, field: str, message: str, *, code: str | None = None) -> None:
        errors = [{"field": located(field), "message": message}]
        super().__init__(message, code=code, errors=errors)

    @classmethod
    def of(cls, problems: Sequence[tuple[str, str]], *, code: str | None = None) -> "Invalid":
        """Every (field, message) at once; the first one is the detail."""
        error = cls(*problems[0], code=code)
        error.errors = [
            {"field": located(field), "message": message} for field, message in problems
        ]
        return error


class Unavailable(Problem):
    status, code, title = 503, "unavailable", "Service unavailable"


class TooManyRequests(Problem):
    status, code, title = 429, "too_many_requests", "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
        "request_id": current_request_id(),
    }
    if errors:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


def field_path(loc: Sequence[str | int]) -> str:
    """('body', 'arms', 0, 'key') -> 'body.arms[0].key'."""
    path = ""
    for part in loc:
        if part == "[key]":
            continue  # pydantic's marker for a bad mapping key: the key itself names it
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def problem_json(problem: Problem) -> JSONResponse:
    """The response for a Problem: what the handler sends for a raised one, and what a
    router returns when the refusal must commit with the request."""
    return problem_response(
        problem.status, problem.code, problem.title, problem.detail, problem.errors, problem.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    def _problem(_request: Request, exc: Problem) -> JSONResponse:
        return problem_json(exc)

    @app.exception_handler(RequestValidationError)
    def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = exc.errors()
        if any(e.get("type") == "json_invalid" for e in raw):
            return problem_response(400, "malformed_json", "Bad request", "Body is not valid JSON")
        errors = [
            {"field": field_path(e["loc"]), "message": e["msg"], "type": e["type"]} for e in raw
        ]
        fields = ", ".join(e["field"] for e in errors)
        return problem_response(
            422, "validation_error", "Validation error", f"Invalid input: {fields}", errors
        )

    @app.exception_handler(StarletteHTTPException)
    def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "Error"))
        return problem_response(
            exc.status_code, code, title, str(exc.detail), headers=dict(exc.headers or {})
        )


def loggable_traceback(error: BaseException | None) -> str:
    """The traceback of an error and its causes, without the values a database error
    carries: the driver's message (PostgreSQL's DETAIL names the conflicting key's value)
    is left out and only the statement's text, never its parameters, is kept."""
    hidden: set[int] = set()
    parts: list[str] = []
    while error is not None:
        if id(error) not in hidden:
            if isinstance(error, StatementError):
                hidden.add(id(error.orig))
                summary = f"{_driver_error(error.orig)} in: {error.statement}"
            else:
                summary = f"{type(error).__name__}: {error}"
            frames = "".join(traceback.format_tb(error.__traceback__))
            parts.append(f"{frames}{summary}\n")
        error = error.__cause__ or error.__context__
    return "during which:\n".join(reversed(parts))


def _driver_error(error: BaseException | None) -> str:
    """A driver's error by its class, SQLSTATE and constraint (psycopg), never its text."""
    diag = getattr(error, "diag", None)
    facts = [
        f"{name} {value}"
        for name, value in (
            ("sqlstate", getattr(error, "sqlstate", None)),
            ("constraint", getattr(diag, "constraint_name", None)),
        )
        if value
    ]
    return type(error).__name__ + (f" ({', '.join(facts)})" if facts else "")


class UnhandledErrorMiddleware:
    """Any exception no handler took becomes a problem+json 500, its traceback logged.

    Starlette's own last-resort handler sits outside every middleware, so its answer is
    plain text without the request id; this one runs inside RequestIdMiddleware.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception:
            if started:
                raise  # mid-response: only dropping the connection tells the client
            _log.error(
                "Unhandled error in %s %s\n%s",
                scope["method"],
                scope["path"],
                loggable_traceback(sys.exc_info()[1]),
            )
            response = problem_response(
                500,
                "internal_error",
                "Internal server error",
                "The server failed to answer; quote the request id when you report it",
            )
            await response(scope, receive, send)

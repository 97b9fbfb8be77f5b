"""Refusals under /console are pages, not problem+json: the same statuses as the API (404 for
a study you may not see, 403 for a role not enough), and the sign-in page for no session."""

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.console.deps import FormRejected, SignInRequired
from app.console.templating import redirect, render
from app.errors import Problem

CONSOLE_PREFIX = "/console"

Handler = Callable[[Request, Any], Any]


def _error_page(request: Request, status: int, detail: str) -> Response:
    return render(request, "error.html", {"status": status, "detail": detail}, status_code=status)


def _sign_in(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"{CONSOLE_PREFIX}/sign-in?next={quote(target, safe='')}"
    if request.headers.get("hx-request") == "true":
        # htmx follows a redirect inside the fragment; this sends the whole page there.
        return Response(status_code=401, headers={"HX-Redirect": url})
    return redirect(url)


def install_console_errors(app: FastAPI) -> None:
    """Console paths get pages; every other path keeps the handlers installed before."""
    previous: dict[Any, Handler] = dict(app.exception_handlers)

    def for_console(kind: Any, page: Callable[[Request, Any], Response]) -> None:
        fallback = previous.get(kind)

        async def handler(request: Request, exc: Any) -> Any:
            if request.url.path.startswith(CONSOLE_PREFIX) or fallback is None:
                return page(request, exc)
            return fallback(request, exc)

        app.add_exception_handler(kind, handler)

    def problem_page(request: Request, exc: Problem) -> Response:
        if isinstance(exc, SignInRequired):
            return _sign_in(request)
        response = _error_page(request, exc.status, exc.detail)
        if "Retry-After" in exc.headers:
            response.headers["Retry-After"] = exc.headers["Retry-After"]
        return response

    def http_page(request: Request, exc: StarletteHTTPException) -> Response:
        return _error_page(request, exc.status_code, str(exc.detail))

    def validation_page(request: Request, exc: RequestValidationError) -> Response:
        # A path or query that is not what the page takes (a malformed id): nothing is there.
        return _error_page(request, 404, "No such page")

    for_console(Problem, problem_page)
    for_console(StarletteHTTPException, http_page)
    for_console(RequestValidationError, validation_page)
    for_console(FormRejected, lambda _request, exc: exc.response)

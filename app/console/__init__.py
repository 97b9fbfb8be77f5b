"""The staff console: server-rendered pages under /console (Jinja2, htmx), a thin face like
app/api over the same services, flows and access layer. README.md beside this tells how to add a
page."""

from fastapi import FastAPI

from app.console.errors import install_console_errors
from app.console.pages import ROUTERS

# Every console response, on top of app/securityheaders.py's: scripts and styles only from
# our own files (no inline script or style), no framing, no referrer leaving the site.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def mount(app: FastAPI) -> None:
    """Add the console's pages (not in the API's OpenAPI document) and its error pages."""
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
    install_console_errors(app)

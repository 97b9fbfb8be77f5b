"""The console's own and vendored files, at URLs that carry a hash of their content, so they
are served `immutable` and a changed file is a new URL."""

from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request, Response

from app.errors import NotFound
from app.staticfiles import content_digest, file_response, resolve

ROOT = (Path(__file__).parent / "static").resolve()
PREFIX = "/console/static"
# The vendored packages' directories (versions in static/vendor/README.md).
VENDOR = {
    "htmx": "vendor/htmx.org@2.0.11/htmx.min.js",
    "chart": "vendor/chart.js@4.6.1/chart.umd.min.js",
    "pico": "vendor/pico@2.0.1/pico.min.css",
}
IMMUTABLE = "public, max-age=31536000, immutable"

router = APIRouter(include_in_schema=False)


@cache
def _fingerprint(name: str) -> str:
    return content_digest(resolve(ROOT, name))[:12]


def static_url(name: str) -> str:
    """The URL of a file under static/ (`console.css`, or a VENDOR entry's path)."""
    return f"{PREFIX}/{_fingerprint(name)}/{name}"


@router.get(PREFIX + "/{fingerprint}/{name:path}")
def static_file(fingerprint: str, name: str, request: Request) -> Response:
    if fingerprint != _fingerprint(name):
        raise NotFound(f"No static file {name} of that version")
    return file_response(request, resolve(ROOT, name), IMMUTABLE)

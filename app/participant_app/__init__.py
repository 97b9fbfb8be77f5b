"""The participant web app at /app: an installable PWA of plain ES modules (no build step)
that uses only the public participant API. Every file is served `no-cache` with an ETag of
its content, so a phone revalidates the shell and the service worker and an update reaches
it on the next start; README.md beside this tells how the app is built."""

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response

from app.staticfiles import file_response, resolve

WEB = Path(__file__).parent / "web"
PREFIX = "/app"
# Where the app's pages open: the home screen and the enrollment link of the QR code.
SHELL_PATHS = ("", "/", "/enroll")
# Firebase's own endpoints, which the web push SDK calls to register the phone.
FIREBASE_ENDPOINTS = (
    "https://firebaseinstallations.googleapis.com https://fcmregistrations.googleapis.com"
)
# Every response under /app, on top of app/securityheaders.py's: scripts, styles, workers
# and the manifest only from our own files (no inline script or style), no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {FIREBASE_ENDPOINTS}; font-src 'self'; worker-src 'self'; "
        "manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Revalidated on every use: a changed file reaches the phone, an unchanged one costs a 304.
REVALIDATE = "no-cache"

router = APIRouter(include_in_schema=False)


def _shell(request: Request) -> Response:
    return file_response(request, WEB / "index.html", REVALIDATE)


for _path in SHELL_PATHS:
    router.add_api_route(PREFIX + _path, _shell, methods=["GET"])


@router.get(PREFIX + "/{name:path}")
def app_file(name: str, request: Request) -> Response:
    """The app's files: sw.js at /app/sw.js (so its scope is /app/), the manifest, the
    modules, styles, icons, locales and vendored files."""
    return file_response(request, resolve(WEB, name), REVALIDATE)


def mount(app: FastAPI) -> None:
    """Serve the app under /app (not in the API's OpenAPI document)."""
    app.include_router(router)

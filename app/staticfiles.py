"""Files served from a directory of the app (the console's, the participant app's): the
name resolved inside its root and nowhere else, its media type, and an ETag of its content
that answers a revalidation (`If-None-Match`) with 304."""

import hashlib
import mimetypes
from functools import cache
from pathlib import Path

from fastapi import Request, Response
from fastapi.responses import FileResponse

from app.errors import NotFound

# What mimetypes may not know, or knows differently on another system.
_MEDIA_TYPES = {
    ".js": "text/javascript",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
}


def resolve(root: Path, name: str) -> Path:
    """`root/name`, refused (404) outside `root` (`..`) or when it is no file."""
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise NotFound(f"No static file {name}")
    return path


def content_digest(path: Path) -> str:
    """SHA-256 of the file, read again only when its size or time of change differs."""
    stat = path.stat()
    return _digest(path, stat.st_mtime_ns, stat.st_size)


@cache
def _digest(path: Path, _mtime_ns: int, _size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def media_type(path: Path) -> str:
    return (
        _MEDIA_TYPES.get(path.suffix)
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


def file_response(request: Request, path: Path, cache_control: str) -> Response:
    """The file with `cache_control`, or 304 when the client's copy is this content."""
    etag = f'"{content_digest(path)[:32]}"'
    headers = {"Cache-Control": cache_control, "ETag": etag}
    if etag in _entity_tags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type(path), headers=headers)


def _entity_tags(header: str) -> set[str]:
    # A weak tag (W/"...") matches for If-None-Match too (RFC 9110 §13.1.2).
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}

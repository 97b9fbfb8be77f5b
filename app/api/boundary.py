"""The input boundary: what no route may take in, whatever its models say.

Every request's path and query parameters, JSON body (keys and values, at any depth) and
form fields are checked once, before any other dependency: text with a NUL character or a
lone UTF-16 surrogate cannot be stored (PostgreSQL refuses both in text and JSON, SQLite
cuts text at a NUL), and a JSON number that is not finite (NaN, Infinity, or one too large
to be a double) is not a number a database column or a JSON document holds. Each is a 422
naming the field by its location (`body.answers.mood`, `query.q`, `path.email`).
"""

import math
import re
from collections.abc import Iterator
from typing import Any

from fastapi import Request

from app.errors import Invalid, field_path

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_JSON = re.compile(r"^application/([\w.+-]+\+)?json\b")
_FORM = ("application/x-www-form-urlencoded", "multipart/form-data")
UNSTORABLE_TYPE = "unstorable_input"  # the problem's code and each error's `type`


def _text_problem(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000), which cannot be stored"
    return f"contains a lone surrogate (\\u{ord(found.group()):04x}), which is not text"


def _json_problems(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if problem := _text_problem(value):
            yield field_path(loc), problem
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield field_path(loc), "is not a finite number (NaN and Infinity cannot be stored)"
    elif isinstance(value, dict):
        for key, item in value.items():
            if problem := _text_problem(key):
                yield field_path(loc), f"has a key that {problem}"
                continue
            yield from _json_problems(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_problems(item, (*loc, index))


async def _body_problems(request: Request) -> Iterator[tuple[str, str]]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(_FORM):
        form = await request.form()  # parsed once: FastAPI reads the same cached form
        return (
            (field_path(("body", name)), problem)
            for name, value in form.multi_items()
            if isinstance(value, str) and (problem := _text_problem(value))
        )
    if _JSON.match(content_type) and await request.body():
        try:
            document = await request.json()  # cached: FastAPI parsed it already
        except ValueError:
            return iter(())  # malformed JSON is FastAPI's 400, not this check's
        return _json_problems(document, ("body",))
    return iter(())


async def refuse_unstorable_input(request: Request) -> None:
    """An app-wide dependency: runs first on every route."""
    problems = [
        (field_path((location, name)), problem)
        for location, items in (
            ("path", request.path_params.items()),
            ("query", request.query_params.multi_items()),
        )
        for name, value in items
        if isinstance(value, str) and (problem := _text_problem(value))
    ]
    problems += await _body_problems(request)
    if problems:
        error = Invalid.of(
            [(field, f"{field} {problem}") for field, problem in problems], code=UNSTORABLE_TYPE
        )
        error.errors = [{**item, "type": UNSTORABLE_TYPE} for item in error.errors]
        raise error

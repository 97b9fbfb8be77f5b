"""Forms that show the API's own validation: a posted form is read into the shape of the
API's input model (`arms[0].key` is body.arms[0].key), validated by that model, and any
Problem — the model's or a service's — is shown next to the input it names, with what was
typed kept. See app/console/README.md for a page's use of it."""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData

from app.console.deps import CSRF_FIELD, FormRejected
from app.errors import Invalid, Problem, field_path

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_LAST_INDEX = re.compile(r"(\.[^.\[\]]+|\[\d+\])$")
_NOT_THE_FORMS = frozenset({401, 403, 404})
FORM_LEVEL = ""  # the errors key of a problem that names no input of the form


def _parts(name: str) -> list[str | int]:
    return [int(index) if index else key for key, index in _PART.findall(name)]


def _put(target: dict[str, Any], parts: list[str | int], value: Any) -> None:
    node: Any = target
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        following: Any = None if last else ([] if isinstance(parts[position + 1], int) else {})
        if isinstance(part, int):
            while len(node) <= part:
                node.append(None)
            if last:
                node[part] = value
            elif node[part] is None:
                node[part] = following
            node = node[part]
        else:
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, following)


@dataclass
class Form:
    """What was typed (by input name) and the problems (by input name, FORM_LEVEL for the
    rest)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    # Input names the page has even when nothing was typed in them (an unchecked box).
    known: frozenset[str] = frozenset()

    @classmethod
    def posted(cls, form: FormData, known: Iterable[str] = ()) -> "Form":
        # The last of repeated names wins: a checkbox follows its hidden "false".
        values: dict[str, str] = {}
        for name, value in form.multi_items():
            if name != CSRF_FIELD and isinstance(value, str):
                values[name] = value
        return cls(values=values, known=frozenset(known))

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def error(self, name: str) -> list[str]:
        return self.errors.get(name, [])

    def data(self, skip_blank: bool = True) -> dict[str, Any]:
        """The typed values nested as the API's JSON body: blank inputs are left out, so an
        optional field left empty takes the model's default."""
        body: dict[str, Any] = {}
        for name, value in self.values.items():
            if not (skip_blank and value.strip() == ""):
                _put(body, _parts(name), value)
        return body

    def rows(self, prefix: str, keys: Iterable[str]) -> int:
        """Renumber the rows `prefix[i].key` with any of `keys` typed, dropping blank rows;
        the number of rows kept. Errors then name the rows as shown again."""
        keys = tuple(keys)
        pattern = re.compile(rf"^{re.escape(prefix)}\[(\d+)\]\.(.+)$")
        found: dict[int, dict[str, str]] = {}
        others: dict[str, str] = {}
        for name, value in self.values.items():
            match = pattern.match(name)
            if match:
                found.setdefault(int(match.group(1)), {})[match.group(2)] = value
            else:
                others[name] = value
        kept = [
            row for _, row in sorted(found.items()) if any(row.get(k, "").strip() for k in keys)
        ]
        for index, row in enumerate(kept):
            for key, value in row.items():
                others[f"{prefix}[{index}].{key}"] = value
        self.values = others
        return len(kept)

    def parse(self, model: type[M], body: Mapping[str, Any] | None = None) -> M:
        """The API's input model of this form (or of `body`, made from it), or the same
        422 Problem the API answers, naming `body.<field>`."""
        try:
            return model.model_validate(self.data() if body is None else body)
        except ValidationError as exc:
            raise Invalid.of(
                [(field_path(("body", *error["loc"])), error["msg"]) for error in exc.errors()]
            ) from exc

    def with_problem(self, problem: Problem) -> "Form":
        errors: dict[str, list[str]] = {}
        for item in problem.errors:
            errors.setdefault(self._input_for(str(item.get("field", ""))), []).append(
                str(item.get("message", ""))
            )
        if problem.status != Invalid.status or not problem.errors:
            # A refusal of the whole form (a conflict) says why above it.
            errors.setdefault(FORM_LEVEL, []).insert(0, problem.detail)
        return Form(values=dict(self.values), errors=errors, known=self.known)

    def _input_for(self, problem_field: str) -> str:
        """The input a problem's field names: `body.arms[1].key` is `arms[1].key`; a field
        inside one input (`body.stratify_by[2]`) is that input's; else the form's."""
        name = problem_field.removeprefix("body.")
        if name == problem_field:
            return FORM_LEVEL
        while name:
            if name in self.values or name in self.known:
                return name
            shorter = _LAST_INDEX.sub("", name)
            if shorter == name:
                break
            name = shorter
        return FORM_LEVEL


def submit(
    session: Session,
    form: Form,
    page: Callable[[Form, int], HTMLResponse],
    work: Callable[[], T],
) -> T:
    """Do the work; on a Problem, answer with the page showing the form with its problems
    (raised as FormRejected, so nothing the work wrote is committed). Who may not see or do
    this (401, 403, 404) gets the error page instead.

    The work runs in a savepoint: a failed write (a taken pseudonym) is undone there, so the
    page can still read the study to show the form again."""
    try:
        with session.begin_nested():
            return work()
    except Problem as problem:
        if problem.status in _NOT_THE_FORMS:
            raise
        raise FormRejected(page(form.with_problem(problem), problem.status)) from problem

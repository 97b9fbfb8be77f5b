"""What the content editors share (questionnaire items and library skills): one element
of a list edited on its own form, texts per locale, lines typed one per line."""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from app.access.scope import StudyAccess
from app.console.forms import Form
from app.console.templating import render
from app.errors import Problem
from app.rules.process import POLES, Pole

NEW = "new"  # the path of an element not yet in the list
# Locales every form offers, besides those the content already has.
OFFERED_LOCALES = ("en", "es")
POLE_ORDER: tuple[Pole, ...] = tuple(pole for pair in POLES.values() for pole in pair)
POLE_LABELS: dict[Pole, str] = {
    Pole.experiential_avoidance: "Experiential avoidance",
    Pole.acceptance: "Acceptance",
    Pole.cognitive_fusion: "Cognitive fusion",
    Pole.defusion: "Defusion",
    Pole.inflexible_attention: "Inflexible attention",
    Pole.present_moment: "Present moment",
    Pole.self_as_content: "Self as content",
    Pole.self_as_context: "Self as context",
    Pole.values_remoteness: "Remoteness from values",
    Pole.chosen_values: "Chosen values",
    Pole.inaction: "Inaction",
    Pole.committed_action: "Committed action",
}


def position_of(keys: Sequence[str], key: str, missing: Problem) -> int | None:
    """Where the element of this path stands in its list: None for a new one (`NEW`), the
    `missing` problem for a key the list does not have."""
    found = next((n for n, each in enumerate(keys) if each == key), None)
    if found is None and key != NEW:
        raise missing
    return found


@contextmanager
def problems_within(prefix: str) -> Iterator[None]:
    """The whole list's problems about the element being edited (`body.skills[3].title`)
    name the element form's own inputs (`body.title`)."""
    try:
        yield
    except Problem as problem:
        for error in problem.errors:
            named = str(error.get("field", ""))
            if named.startswith(prefix):
                error["field"] = "body" + named.removeprefix(prefix)
        raise


def lines(text: str) -> list[str]:
    """A textarea's non-blank lines: steps are typed one per line."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def adopt_new_locale(form: Form, moved: Mapping[str, str]) -> None:
    """The "another locale" inputs (`new_locale` and those of `moved`) become that locale's
    own (`moved[name]` with `{locale}` filled in), so the form shows it, with its problems,
    like the others when it comes back."""
    locale = form.values.pop("new_locale", "").strip()
    typed = {name: form.values.pop(name, "") for name in moved}
    if locale:
        for name, pattern in moved.items():
            form.values[pattern.format(locale=locale)] = typed[name]


def locales_typed(form: Form, prefix: str) -> set[str]:
    """The locales of the inputs named `<prefix><locale>...`."""
    return {
        name.removeprefix(prefix).split(".")[0].split("[")[0]
        for name in form.values
        if name.startswith(prefix)
    }


def study_page(
    request: Request,
    access: StudyAccess,
    section: str,
    template: str,
    context: Mapping[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    """A page of the study's `section` (its navigation path, `/libraries`), with its access
    and `url` in the context."""
    return render(
        request,
        template,
        {
            "access": access,
            "current": section,
            "url": f"/console/studies/{access.study.id}{section}",
            **context,
        },
        status_code,
    )

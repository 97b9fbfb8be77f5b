"""Skill content: what a participant is offered (pure)."""

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.plans.placeholders import fallback_problems, text_problems
from app.rules.process import Pole
from app.types import INPUT, Key, LocaleTag

Step = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Modality = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,29}$")]
Fallbacks = Annotated[
    dict[str, Annotated[str, StringConstraints(min_length=1, max_length=200)]],
    Field(
        max_length=30,
        description="For each placeholder the text uses ({value}, {strategy:<pole>}, …), "
        "the words to read when the participant's plan has no such entry",
    ),
]


class SkillText(BaseModel):
    model_config = INPUT
    title: str = Field(min_length=1, max_length=120)
    steps: list[Step] = Field(min_length=1, max_length=12)
    fallbacks: Fallbacks = Field(default_factory=dict)


class Skill(BaseModel):
    """An ACT micro-skill: short instructions as steps, for one or more process poles."""

    model_config = INPUT
    key: Key
    title: str = Field(min_length=1, max_length=120)
    steps: list[Step] = Field(min_length=1, max_length=12)
    duration_seconds: int = Field(ge=15, le=1800)
    targets: list[Pole] = Field(min_length=1, max_length=12)
    modalities: list[Modality] = Field(default_factory=list, max_length=8)
    media_url: str | None = Field(default=None, max_length=500, pattern=r"^https://")
    translations: dict[LocaleTag, SkillText] = Field(default_factory=dict)
    fallbacks: Fallbacks = Field(default_factory=dict)


def localized(skill: Skill, locale: str | None, default_locale: str) -> SkillText:
    """The skill's text in the participant's locale, its language, the study's default
    locale, or as written."""
    for candidate in (locale, (locale or "").split("-")[0], default_locale):
        if candidate and candidate in skill.translations:
            return skill.translations[candidate]
    return SkillText(title=skill.title, steps=skill.steps, fallbacks=skill.fallbacks)


def _text_problems(text: SkillText, path: str) -> list[tuple[str, str]]:
    """Placeholders a text does not know or gives no fallback for, in its own language."""
    problems = [
        (f"{path}.fallbacks.{key}", message) for key, message in fallback_problems(text.fallbacks)
    ]
    for name, line in [
        ("title", text.title),
        *((f"steps[{n}]", step) for n, step in enumerate(text.steps)),
    ]:
        problems.extend(
            (f"{path}.{name}", message) for message in text_problems(line, text.fallbacks)
        )
    return problems


def library_problems(skills: Sequence[Skill], field: str = "skills") -> list[tuple[str, str]]:
    """Problems of a whole library, as (path, message): a key used twice, a placeholder
    that is not one, or one without its fallback (in each language)."""
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, skill in enumerate(skills):
        path = f"{field}[{index}]"
        if skill.key in seen:
            problems.append((f"{path}.key", f"'{skill.key}' appears twice"))
        seen.add(skill.key)
        base = SkillText(title=skill.title, steps=skill.steps, fallbacks=skill.fallbacks)
        problems.extend(_text_problems(base, path))
        for locale, text in skill.translations.items():
            problems.extend(_text_problems(text, f"{path}.translations.{locale}"))
    return problems


# A "from my plan" candidate: the client's own strategy for the targeted pole, offered as
# it is written in their plan, inside this frame in the participant's language.
OWN_PLAN_MODALITY = "own_plan"
OWN_PLAN_SECONDS = 120
OWN_PLAN_TEXTS: dict[str, SkillText] = {
    "en": SkillText(
        title="From my plan",
        steps=[
            "Something that has helped you before:",
            "{strategy}",
            "Try it now, in a small way, for a minute or two.",
        ],
    ),
    "es": SkillText(
        title="De mi plan",
        steps=[
            "Algo que te ha ayudado antes:",
            "{strategy}",
            "Pruébalo ahora, a pequeña escala, durante un minuto o dos.",
        ],
    ),
}

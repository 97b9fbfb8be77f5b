"""Skill content: what a participant is offered (pure)."""

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.rules.process import Pole
from app.types import INPUT, Key, LocaleTag

Step = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Modality = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,29}$")]


class SkillText(BaseModel):
    model_config = INPUT
    title: str = Field(min_length=1, max_length=120)
    steps: list[Step] = Field(min_length=1, max_length=12)


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


def localized(skill: Skill, locale: str | None, default_locale: str) -> SkillText:
    """The skill's text in the participant's locale, its language, the study's default
    locale, or as written."""
    for candidate in (locale, (locale or "").split("-")[0], default_locale):
        if candidate and candidate in skill.translations:
            return skill.translations[candidate]
    return SkillText(title=skill.title, steps=skill.steps)


def library_problems(skills: Sequence[Skill]) -> list[tuple[str, str]]:
    """Problems of a whole library, as (path, message)."""
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, skill in enumerate(skills):
        if skill.key in seen:
            problems.append((f"skills[{index}].key", f"'{skill.key}' appears twice"))
        seen.add(skill.key)
    return problems

"""What changed between two versions of a skill library (pure): the skills added, removed
and changed, and for each changed skill the fields that differ, as line diffs (difflib)."""

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.skills.content import Skill, SkillText

LineKind = Literal["same", "removed", "added"]
_KINDS: dict[str, LineKind] = {" ": "same", "-": "removed", "+": "added"}


@dataclass(frozen=True)
class DiffLine:
    kind: LineKind
    text: str


@dataclass(frozen=True)
class FieldChange:
    field: str  # the Skill's field path: "title", "steps", "translations.es.steps"
    lines: list[DiffLine]


@dataclass(frozen=True)
class SkillChange:
    key: str
    title: str
    fields: list[FieldChange]


@dataclass(frozen=True)
class LibraryDiff:
    added: list[Skill]
    removed: list[Skill]
    changed: list[SkillChange]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _text_lines(prefix: str, text: SkillText) -> dict[str, list[str]]:
    return {
        f"{prefix}title": [text.title],
        f"{prefix}steps": list(text.steps),
        f"{prefix}fallbacks": [f"{name}: {words}" for name, words in text.fallbacks.items()],
    }


def _lines(skill: Skill) -> dict[str, list[str]]:
    """Every field of a skill as lines of text, in the order a reader expects them."""
    lines = _text_lines(
        "", SkillText(title=skill.title, steps=skill.steps, fallbacks=skill.fallbacks)
    )
    lines |= {
        "duration_seconds": [str(skill.duration_seconds)],
        "targets": [str(pole) for pole in skill.targets],
        "modalities": list(skill.modalities),
        "media_url": [skill.media_url] if skill.media_url else [],
    }
    for locale in sorted(skill.translations):
        lines |= _text_lines(f"translations.{locale}.", skill.translations[locale])
    return lines


def _field_changes(before: Skill, after: Skill) -> list[FieldChange]:
    old, new = _lines(before), _lines(after)
    fields = [*old, *(name for name in new if name not in old)]
    return [
        FieldChange(
            field=name,
            lines=[
                DiffLine(_KINDS[line[0]], line[2:])
                for line in difflib.ndiff(old.get(name, []), new.get(name, []))
                if line[0] in _KINDS
            ],
        )
        for name in fields
        if old.get(name, []) != new.get(name, [])
    ]


def library_diff(before: Sequence[Skill], after: Sequence[Skill]) -> LibraryDiff:
    """From `before` to `after`, skills matched by key, in the order of `after`."""
    old = {skill.key: skill for skill in before}
    new = {skill.key: skill for skill in after}
    changed = []
    for skill in after:
        if skill.key in old and (fields := _field_changes(old[skill.key], skill)):
            changed.append(SkillChange(key=skill.key, title=skill.title, fields=fields))
    return LibraryDiff(
        added=[skill for skill in after if skill.key not in old],
        removed=[skill for skill in before if skill.key not in new],
        changed=changed,
    )

"""The personal plan's content (pure): sections of short entries in the client's own words.

Every entry has an id the server gives it (`e1`, `e2`, … never reused within one plan, so a
strategy's helpfulness stays its own), may be tied to a process pole and to a questionnaire
item (a choice item, with the choice that checks the entry in). Texts stay inside Kairos:
what leaves it (exports, decisions) names sections, counts and entry ids only.
"""

from collections.abc import Iterator
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from app.rules.process import Pole
from app.types import INPUT, Key

MAX_ENTRIES = 20
MAX_ENTRY_TEXT = 300


class PlanSection(StrEnum):
    values = "values"  # what matters to them, in their own words
    goals = "goals"
    triggers = "triggers"  # situations that are hard for them, high-risk situations
    warning_signs = "warning_signs"
    strategies = "strategies"  # what has helped before
    supports = "supports"  # people they can reach out to, and how
    reasons = "reasons"  # reasons for change


# The placeholder a skill text uses for an entry of each section: `{value}`, `{support}`…
PLACEHOLDER_OF: dict[PlanSection, str] = {
    PlanSection.values: "value",
    PlanSection.goals: "goal",
    PlanSection.triggers: "trigger",
    PlanSection.warning_signs: "warning_sign",
    PlanSection.strategies: "strategy",
    PlanSection.supports: "support",
    PlanSection.reasons: "reason",
}


class PlanEntry(BaseModel):
    model_config = INPUT
    id: Key | None = Field(
        default=None,
        description="Given by Kairos; send it back to keep the entry (and what "
        "was learned about it), leave it out for a new entry",
    )
    text: str = Field(min_length=1, max_length=MAX_ENTRY_TEXT, description="The client's words")
    pole: Pole | None = Field(default=None, description="The process pole it is for")
    item: Key | None = Field(default=None, description="A questionnaire item that checks it in")
    choice: Key | None = Field(default=None, description="The item's choice that checks it in")

    @model_validator(mode="after")
    def _choice_needs_item(self) -> "PlanEntry":
        if self.choice is not None and self.item is None:
            raise ValueError("a choice needs its item")
        return self


class PlanContent(BaseModel):
    """Every section of a plan, each a short list of entries (first is foremost)."""

    model_config = INPUT
    values: list[PlanEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)
    goals: list[PlanEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)
    triggers: list[PlanEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)
    warning_signs: list[PlanEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)
    strategies: list[PlanEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)
    supports: list[PlanEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)
    reasons: list[PlanEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)

    def section(self, section: PlanSection) -> list[PlanEntry]:
        entries: list[PlanEntry] = getattr(self, section.value)
        return entries

    def entries(self) -> Iterator[tuple[PlanSection, int, PlanEntry]]:
        for section in PlanSection:
            for index, entry in enumerate(self.section(section)):
                yield section, index, entry


def entry_counts(content: PlanContent) -> dict[str, int]:
    """How many entries each section has: all that leaves Kairos of a plan."""
    return {section.value: len(content.section(section)) for section in PlanSection}


def changed_sections(before: PlanContent, after: PlanContent) -> list[str]:
    return [
        section.value
        for section in PlanSection
        if before.section(section) != after.section(section)
    ]


def with_entry_ids(
    content: PlanContent, previous: PlanContent, next_entry: int
) -> tuple[PlanContent, int, list[tuple[str, str]]]:
    """The content with every new entry given the next id; returns the next free number
    and the problems (path, message): an id the plan does not have, an id used twice."""
    known = {entry.id for _, _, entry in previous.entries()}
    seen: set[str] = set()
    problems: list[tuple[str, str]] = []
    sections: dict[str, list[PlanEntry]] = {}
    for section in PlanSection:
        entries = []
        for index, entry in enumerate(content.section(section)):
            path = f"{section.value}[{index}].id"
            if entry.id is None:
                entry = entry.model_copy(update={"id": f"e{next_entry}"})
                next_entry += 1
            elif entry.id not in known:
                problems.append((path, f"'{entry.id}' is not an entry of this plan"))
            elif entry.id in seen:
                problems.append((path, f"'{entry.id}' appears twice"))
            seen.add(entry.id or "")
            entries.append(entry)
        sections[section.value] = entries
    return PlanContent.model_validate(sections), next_entry, problems


def plan_words(content: PlanContent) -> dict[str, str]:
    """What each placeholder reads for this plan: `{value}` the first value, and
    `{value:<pole>}` the first value tied to that pole; absent when the plan has none."""
    words: dict[str, str] = {}
    for section in PlanSection:
        name = PLACEHOLDER_OF[section]
        for entry in content.section(section):
            words.setdefault(name, entry.text)
            if entry.pole is not None:
                words.setdefault(f"{name}:{entry.pole}", entry.text)
    return words


PLAN_KEY_PREFIX = "plan:"  # never a library key: those cannot hold a colon


def strategy_key(entry_id: str) -> str:
    """The key a "from my plan" candidate is decided, recorded and rated by."""
    return f"{PLAN_KEY_PREFIX}{entry_id}"


def strategy_text(content: PlanContent, key: str) -> str | None:
    for entry in content.strategies:
        if strategy_key(entry.id or "") == key:
            return entry.text
    return None

"""Safety screen on the risk items, run before any tailoring (pure).

Tiers by the highest risk answer on its 0-100 scale (booleans: true is high). Any tier
replaces the skill decision with the study's crisis resources.
"""

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from app.checkins.questionnaire import Item
from app.types import INPUT

Tier = Literal["high", "medium", "low"]
DEFAULT_CRISIS_TEXT = {
    "en": (
        "Kairos is not a crisis service and nobody watches your answers in real time. "
        "If you might act on thoughts of harming yourself, call your local emergency number "
        "now, or contact a crisis line or your clinician."
    ),
    "es": (
        "Kairos no es un servicio de crisis y nadie revisa tus respuestas en tiempo real. "
        "Si podrías actuar según pensamientos de hacerte daño, llama ahora al número de "
        "emergencias de tu zona, o contacta una línea de crisis o a tu terapeuta."
    ),
}


class SafetySettings(BaseModel):
    """Thresholds on the 0-100 scale of the risk items; `low` <= `medium` <= `high`."""

    model_config = INPUT
    high: float = Field(default=70, ge=0, le=100)
    medium: float = Field(default=40, ge=0, le=100)
    low: float = Field(default=20, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> "SafetySettings":
        if not self.low <= self.medium <= self.high:
            raise ValueError("thresholds must satisfy low <= medium <= high")
        return self


class CrisisResources(BaseModel):
    """What a participant sees after a positive screen, in one locale."""

    model_config = INPUT
    text: str = Field(min_length=1, max_length=2000)
    phone: str | None = Field(default=None, max_length=40)
    url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")


def default_crisis_resources() -> dict[str, CrisisResources]:
    return {locale: CrisisResources(text=text) for locale, text in DEFAULT_CRISIS_TEXT.items()}


class SafetyScreen(BaseModel):
    tier: Tier | None
    items: list[str]


def screen(
    items: Sequence[Item], answers: Mapping[str, float | str], settings: SafetySettings
) -> SafetyScreen:
    """`answers` on the rules' 0-100 scale (see `app.rules.evaluate.scaled_answers`)."""
    worst = -1.0
    triggering: list[str] = []
    for item in items:
        value = answers.get(item.key)
        if not item.risk or not isinstance(value, float | int):
            continue
        if value >= settings.low:
            triggering.append(item.key)
        worst = max(worst, value)
    tier: Tier | None = None
    if worst >= settings.high:
        tier = "high"
    elif worst >= settings.medium:
        tier = "medium"
    elif worst >= settings.low:
        tier = "low"
    return SafetyScreen(tier=tier, items=triggering if tier else [])

"""Safety screen on the risk items, run before any tailoring (pure).

Each risk item screens as a tier: a number by its 0-100 value against the thresholds
(booleans: true is 100), a choice by the tier its answer carries. The check-in's tier is
the worst of them; any tier replaces the skill decision with the study's crisis resources.
"""

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field, model_validator

from app.rules.items import Item, RiskTier
from app.types import INPUT

_RANK: dict[RiskTier | None, int] = {None: 0, "low": 1, "medium": 2, "high": 3}
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
    tier: RiskTier | None
    items: list[str]


def _tier(item: Item, value: float | str | None, settings: SafetySettings) -> RiskTier | None:
    if item.type == "choice":
        return next((c.risk for c in item.choices or [] if c.key == value), None)
    if not isinstance(value, float | int):
        return None
    if value >= settings.high:
        return "high"
    if value >= settings.medium:
        return "medium"
    return "low" if value >= settings.low else None


def screen(
    items: Sequence[Item], answers: Mapping[str, float | str], settings: SafetySettings
) -> SafetyScreen:
    """`answers` on the rules' 0-100 scale (see `app.rules.evaluate.scaled_answers`)."""
    tiers = {item.key: _tier(item, answers.get(item.key), settings) for item in items if item.risk}
    triggering = [key for key, tier in tiers.items() if tier is not None]
    worst = max(tiers.values(), key=_RANK.__getitem__, default=None)
    return SafetyScreen(tier=worst, items=triggering)

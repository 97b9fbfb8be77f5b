"""Check-in questionnaire content and answer validation (pure: data in, data out).

Texts carry translations per locale; `localized_text` picks the participant's locale,
then its language, then the study's default locale.
"""

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.rules.process import Pole
from app.types import INPUT, Key, LocaleTag

ItemType = Literal["slider", "likert", "choice", "boolean", "text"]
# Items whose answer is a number (a boolean counts 1 or 0).
NUMERIC_ITEM_TYPES = frozenset({"slider", "likert", "boolean"})
RiskTier = Literal["high", "medium", "low"]
Answer = int | float | bool | str | None
Texts = Annotated[
    dict[LocaleTag, Annotated[str, StringConstraints(min_length=1, max_length=500)]],
    Field(min_length=1),
]
SLIDER_RANGE = (0, 100)
MAX_TEXT_ANSWER = 1000


class Choice(BaseModel):
    model_config = INPUT
    key: Key
    label: Texts
    risk: RiskTier | None = Field(
        default=None, description="On a risk item: the safety tier this answer screens as"
    )


class Item(BaseModel):
    """One check-in question. Sliders run 0-100; likert items give their own range."""

    model_config = INPUT
    key: Key
    type: ItemType
    text: Texts
    min: int | None = Field(default=None, ge=-1000, le=1000)
    max: int | None = Field(default=None, ge=-1000, le=1000)
    choices: list[Choice] | None = Field(default=None, max_length=50)
    anchors: dict[LocaleTag, tuple[str, str]] | None = Field(
        default=None, description="Labels of the low and high ends, per locale"
    )
    required: bool = True
    pole: Pole | None = Field(default=None, description="The process pole the item measures")
    risk: bool = Field(
        default=False,
        description="Screened for safety before tailoring: numbers against the study's "
        "thresholds (boolean true is the top of the scale), choices by their own tier",
    )
    pack: str | None = Field(default=None, max_length=100, description="Item pack it came from")

    @model_validator(mode="after")
    def _shape_fits_type(self) -> "Item":
        if self.type == "likert":
            if self.min is None or self.max is None or self.min >= self.max:
                raise ValueError("a likert item needs min < max")
        elif self.min is not None or self.max is not None:
            raise ValueError(f"a {self.type} item takes no min or max")
        if self.type == "choice":
            keys = [choice.key for choice in self.choices or []]
            if len(keys) < 2 or len(set(keys)) != len(keys):
                raise ValueError("a choice item needs at least two choices with distinct keys")
        elif self.choices is not None:
            raise ValueError(f"a {self.type} item takes no choices")
        if self.pole is not None and self.type not in ("slider", "likert"):
            raise ValueError("only slider and likert items can measure a process pole")
        return self

    @property
    def range(self) -> tuple[int, int] | None:
        if self.type == "slider":
            return SLIDER_RANGE
        if self.type == "likert":
            assert self.min is not None and self.max is not None
            return self.min, self.max
        return None

    def scaled(self, value: float) -> float:
        """A numeric answer on 0-100, so rules compare sliders and likert items alike."""
        low, high = self.range or SLIDER_RANGE
        return (value - low) * 100 / (high - low)


class ItemPack(BaseModel):
    """A validated instrument loaded into a questionnaire, with where it comes from."""

    model_config = INPUT
    name: str = Field(min_length=1, max_length=100)
    source: str = Field(min_length=1, max_length=500, description="Citation or URL")
    licence: str = Field(min_length=1, max_length=200)
    items: list[Item] = Field(min_length=1, max_length=100)


def check_items(items: Sequence[Item]) -> list[tuple[str, str]]:
    """Problems of a whole questionnaire, as (path, message)."""
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.key in seen:
            problems.append((f"items[{index}].key", f"'{item.key}' appears twice"))
        seen.add(item.key)
        problems.extend(
            (f"items[{index}].{path}", message) for path, message in _risk_problems(item)
        )
    if not items:
        problems.append(("items", "a questionnaire needs at least one item"))
    return problems


def _risk_problems(item: Item) -> list[tuple[str, str]]:
    """A risk item must be one the screen can read: free text cannot be screened, and a
    choice item names the tier of each risky answer."""
    if item.type == "text" and item.risk:
        return [("risk", "a text item cannot be screened for risk")]
    tiered = [index for index, choice in enumerate(item.choices or []) if choice.risk]
    if item.type == "choice" and item.risk and not tiered:
        return [("risk", "a choice risk item needs a risk tier on at least one choice")]
    if tiered and not item.risk:
        return [(f"choices[{tiered[0]}].risk", "risk tiers need the item to have risk: true")]
    return []


def _answer_problem(item: Item, value: Answer) -> str | None:
    if item.type in ("slider", "likert"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if item.type == "likert" and not float(value).is_integer():
            return "must be a whole number"
        low, high = item.range or SLIDER_RANGE
        if not low <= value <= high:
            return f"must be between {low} and {high}"
    elif item.type == "choice":
        keys = [choice.key for choice in item.choices or []]
        if value not in keys:
            return f"must be one of {', '.join(keys)}"
    elif item.type == "boolean":
        if not isinstance(value, bool):
            return "must be true or false"
    elif not isinstance(value, str) or len(value) > MAX_TEXT_ANSWER:
        return f"must be text of at most {MAX_TEXT_ANSWER} characters"
    return None


def check_answers(
    items: Sequence[Item], answers: Mapping[str, Any], *, partial: bool = False
) -> list[tuple[str, str]]:
    """Problems of a check-in's answers, as (item key, message); empty when valid.
    `partial` lets required items be missing (sample answers of a dry run)."""
    by_key = {item.key: item for item in items}
    problems = [
        (key, "is not an item of this questionnaire") for key in answers if key not in by_key
    ]
    for item in items:
        value = answers.get(item.key)
        if value is None:
            if item.required and not partial:
                problems.append((item.key, "is required"))
            continue
        if (problem := _answer_problem(item, value)) is not None:
            problems.append((item.key, problem))
    return problems


def localized_text(texts: Mapping[str, str], locale: str | None, default_locale: str) -> str:
    """The text for `locale`, else its language, else the default locale, else any."""
    for candidate in (locale, (locale or "").split("-")[0], default_locale):
        if candidate and candidate in texts:
            return texts[candidate]
    return next(iter(texts.values()))


def _slider(key: str, pole: Pole, en: str, es: str) -> Item:
    return Item(
        key=key,
        type="slider",
        text={"en": en, "es": es},
        anchors={"en": ("Not at all", "Completely"), "es": ("Nada", "Totalmente")},
        pole=pole,
    )


def default_items() -> list[Item]:
    """The default ACT check-in, in our own words: for each dimension one item for each
    pole on a 0-100 slider, current distress, and one risk item."""
    P = Pole
    return [
        _slider("emotion_avoid", P.experiential_avoidance,
                "Right now I am trying to push away or escape what I feel.",
                "Ahora mismo intento apartar o huir de lo que siento."),
        _slider("emotion_open", P.acceptance,
                "Right now I can let my feelings be here, even the hard ones.",
                "Ahora mismo puedo dejar que mis emociones estén, incluso las difíciles."),
        _slider("cognition_fused", P.cognitive_fusion,
                "My thoughts feel like the plain truth that I have to obey.",
                "Mis pensamientos me parecen la pura verdad y siento que debo obedecerlos."),
        _slider("cognition_defused", P.defusion,
                "I can notice my thoughts as thoughts, without being pushed around by them.",
                "Puedo notar mis pensamientos como pensamientos, sin que me dominen."),
        _slider("attention_stuck", P.inflexible_attention,
                "My mind keeps getting pulled into the past or the future.",
                "Mi mente se va una y otra vez al pasado o al futuro."),
        _slider("attention_present", P.present_moment,
                "I am in touch with what is happening around me and in me right now.",
                "Estoy en contacto con lo que pasa a mi alrededor y dentro de mí ahora."),
        _slider("self_content", P.self_as_content,
                "I am caught up in a story about what kind of person I am.",
                "Estoy atrapado/a en una historia sobre qué clase de persona soy."),
        _slider("self_context", P.self_as_context,
                "I can step back and watch my experience from a steady place.",
                "Puedo dar un paso atrás y observar mi experiencia desde un lugar estable."),
        _slider("values_remote", P.values_remoteness,
                "I have lost sight of what really matters to me.",
                "He perdido de vista lo que de verdad me importa."),
        _slider("values_clear", P.chosen_values,
                "I know what I care about in this moment.",
                "Sé lo que me importa en este momento."),
        _slider("behavior_stuck", P.inaction,
                "I am putting off or avoiding things I want to do.",
                "Estoy aplazando o evitando cosas que quiero hacer."),
        _slider("behavior_acting", P.committed_action,
                "I am taking steps, even small ones, toward what matters to me.",
                "Estoy dando pasos, aunque sean pequeños, hacia lo que me importa."),
        Item(
            key="distress",
            type="slider",
            text={"en": "How distressed do you feel right now?",
                  "es": "¿Cuánto malestar sientes ahora mismo?"},
            anchors={"en": ("None", "The most I can imagine"),
                     "es": ("Ninguno", "El máximo que puedo imaginar")},
        ),
        Item(
            key="risk",
            type="slider",
            text={"en": "Right now, how strong are thoughts of harming yourself?",
                  "es": "Ahora mismo, ¿qué tan fuertes son los pensamientos de hacerte daño?"},
            anchors={"en": ("Not present", "Very strong"), "es": ("Ausentes", "Muy fuertes")},
            risk=True,
        ),
    ]  # fmt: skip

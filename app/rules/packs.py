"""Built-in item packs for the whole person, in our own words, in English and Spanish
(pure content): sleep last night, physical pain or illness today, social context, where
they are, substance craving or use. They are ordinary items (optional to answer), so rules,
exports, the codebook and analyses read them like any other.

Some packs come with rules a study may choose when loading them. A pack's rules go before
the study's own, and the first rule that fires scores its pole, so they only take over
when their condition holds: after a poor night, or with strong pain or craving, the
matching inflexible score is raised by 20 points (its dimension's need by 10: the same as
lowering that dimension's threshold by 10), which steers toward the short, gentle
grounding and acceptance skills sooner. Without a pack's rules, the default rule set
stays as it is.
"""

from typing import Literal

from pydantic import BaseModel, Field

from app.rules.items import Choice, Item, ItemPack
from app.rules.process import Pole
from app.rules.schema import Aggregate, Compare, Const, ItemValue, Rule

SOURCE = "Kairos built-in pack, written for Kairos in our own words"
LICENCE = "Apache-2.0, as Kairos"
RAISE = 20.0  # points added to an inflexible score when a pack's condition holds


class BuiltInPack(BaseModel):
    name: str
    title: str
    description: str
    pack: ItemPack
    rules: list[Rule] = Field(description="Optional rules a study may load with the items")
    rules_meaning: str | None = None


def _choices(options: list[tuple[str, str, str]]) -> list[Choice]:
    return [Choice(key=key, label={"en": en, "es": es}) for key, en, es in options]


def _raised_when(
    rule_id: str, pole: Pole, scored_by: str, item: str, cmp: Literal["<=", ">="], at: float
) -> Rule:
    """The pole's item, raised by RAISE points while `item cmp at` holds."""
    return Rule(
        id=rule_id,
        pole=pole,
        when=Compare(
            op="compare",
            left=ItemValue(op="item", item=item),
            cmp=cmp,
            right=Const(op="const", value=at),
        ),
        value=Aggregate(
            op="sum",
            of=[ItemValue(op="item", item=scored_by), Const(op="const", value=RAISE)],
            missing="unknown",
        ),
    )


def _pack(name: str, items: list[Item]) -> ItemPack:
    return ItemPack(name=name, source=SOURCE, licence=LICENCE, items=items)


def built_in_packs() -> dict[str, BuiltInPack]:
    P = Pole
    packs = [
        BuiltInPack(
            name="sleep",
            title="Sleep last night",
            description="How well the person slept last night (0-100 slider).",
            pack=_pack("sleep", [Item(
                key="sleep_quality", type="slider", required=False,
                text={"en": "How well did you sleep last night?",
                      "es": "¿Qué tal dormiste anoche?"},
                anchors={"en": ("Very badly", "Very well"), "es": ("Muy mal", "Muy bien")},
            )]),
            rules=[_raised_when("sleep_poor_attention", P.inflexible_attention,
                                "attention_stuck", "sleep_quality", "<=", 30)],
            rules_meaning="After a poor night (sleep_quality 30 or less), attention's "
            "inflexible score is raised by 20: grounding skills come sooner.",
        ),
        BuiltInPack(
            name="pain_illness",
            title="Physical pain or illness today",
            description="How much physical pain or illness the person feels today (0-100).",
            pack=_pack("pain_illness", [Item(
                key="pain_illness", type="slider", required=False,
                text={"en": "How much physical pain or illness are you feeling today?",
                      "es": "¿Cuánto dolor físico o malestar por enfermedad sientes hoy?"},
                anchors={"en": ("None", "The worst I can imagine"),
                         "es": ("Nada", "El peor que puedo imaginar")},
            )]),
            rules=[_raised_when("pain_avoidance", P.experiential_avoidance,
                                "emotion_avoid", "pain_illness", ">=", 70)],
            rules_meaning="With strong pain or illness (70 or more), emotion's inflexible "
            "score is raised by 20: acceptance skills come sooner.",
        ),
        BuiltInPack(
            name="social_context",
            title="Social context",
            description="Whether the person is alone or with others, and with whom.",
            pack=_pack("social_context", [Item(
                key="company", type="choice", required=False,
                text={"en": "Who are you with right now?", "es": "¿Con quién estás ahora?"},
                choices=_choices([
                    ("alone", "Alone", "Solo/a"),
                    ("partner", "My partner", "Mi pareja"),
                    ("family", "Family", "Familia"),
                    ("friends", "Friends", "Amigos"),
                    ("work_or_school", "People from work or school",
                     "Gente del trabajo o de clase"),
                    ("strangers", "People I do not know", "Gente que no conozco"),
                    ("other", "Someone else", "Otra persona"),
                ]),
            )]),
            rules=[],
        ),
        BuiltInPack(
            name="location",
            title="Where they are",
            description="Where the person is right now, as a kind of place (never a position).",
            pack=_pack("location", [Item(
                key="place", type="choice", required=False,
                text={"en": "Where are you right now?", "es": "¿Dónde estás ahora?"},
                choices=_choices([
                    ("home", "At home", "En casa"),
                    ("work_or_school", "At work or school", "En el trabajo o en clase"),
                    ("someone_elses_home", "At someone else's home", "En casa de otra persona"),
                    ("outdoors", "Outdoors", "Al aire libre"),
                    ("on_the_way", "On the way somewhere", "De camino a algún sitio"),
                    ("public_place", "In a shop, bar or other public place",
                     "En una tienda, un bar u otro lugar público"),
                    ("other", "Somewhere else", "En otro sitio"),
                ]),
            )]),
            rules=[],
        ),
        BuiltInPack(
            name="craving_use",
            title="Substance craving or use",
            description="Craving for alcohol or drugs now (0-100), and use since the last "
            "check-in (yes or no).",
            pack=_pack("craving_use", [
                Item(
                    key="craving", type="slider", required=False,
                    text={"en": "How strong is your craving for alcohol or drugs right now?",
                          "es": "¿Qué tan fuerte es tu deseo de alcohol o drogas ahora mismo?"},
                    anchors={"en": ("No craving", "The strongest possible"),
                             "es": ("Ningún deseo", "El más fuerte posible")},
                ),
                Item(
                    key="used_since_last", type="boolean", required=False,
                    text={"en": "Have you used alcohol or drugs since your last check-in?",
                          "es": "¿Has consumido alcohol o drogas desde tu último registro?"},
                ),
            ]),
            rules=[_raised_when("craving_avoidance", P.experiential_avoidance,
                                "emotion_avoid", "craving", ">=", 60)],
            rules_meaning="With a strong craving (60 or more), emotion's inflexible score is "
            "raised by 20: acceptance skills (riding the urge) come sooner.",
        ),
    ]  # fmt: skip
    return {pack.name: pack for pack in packs}

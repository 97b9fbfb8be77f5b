"""The process model: six dimensions, each with an inflexible and a flexible pole.

The twelve pole keys are stable identifiers used by rules, skills, exports and charts.
"""

from enum import StrEnum


class Dimension(StrEnum):
    emotion = "emotion"
    cognition = "cognition"
    attention = "attention"
    self = "self"
    motivation = "motivation"
    behavior = "behavior"


class Pole(StrEnum):
    experiential_avoidance = "experiential_avoidance"
    acceptance = "acceptance"
    cognitive_fusion = "cognitive_fusion"
    defusion = "defusion"
    inflexible_attention = "inflexible_attention"
    present_moment = "present_moment"
    self_as_content = "self_as_content"
    self_as_context = "self_as_context"
    values_remoteness = "values_remoteness"
    chosen_values = "chosen_values"
    inaction = "inaction"
    committed_action = "committed_action"


# (inflexible, flexible) per dimension; the order of this mapping is the fixed tie-break.
POLES: dict[Dimension, tuple[Pole, Pole]] = {
    Dimension.emotion: (Pole.experiential_avoidance, Pole.acceptance),
    Dimension.cognition: (Pole.cognitive_fusion, Pole.defusion),
    Dimension.attention: (Pole.inflexible_attention, Pole.present_moment),
    Dimension.self: (Pole.self_as_content, Pole.self_as_context),
    Dimension.motivation: (Pole.values_remoteness, Pole.chosen_values),
    Dimension.behavior: (Pole.inaction, Pole.committed_action),
}
DIMENSION_ORDER: tuple[Dimension, ...] = tuple(POLES)
_DIMENSION_OF = {pole: dimension for dimension, pair in POLES.items() for pole in pair}


def dimension_of(pole: Pole) -> Dimension:
    return _DIMENSION_OF[pole]


def is_flexible(pole: Pole) -> bool:
    return POLES[dimension_of(pole)][1] == pole

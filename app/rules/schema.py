"""Rule sets: validated data (never code, never `eval`) that turn answers into process scores.

Expressions give numbers on the 0-100 scale of the answers (sliders as given, likert items
rescaled, booleans 0 or 100); conditions combine comparisons. A rule scores one pole; for
each pole the first rule, in order, that fires (its condition holds and its value is
known) gives the score. Example:

    {"rules": [{"id": "fusion", "pole": "cognitive_fusion",
                "value": {"op": "mean", "of": [{"op": "item", "item": "cognition_fused"},
                                               {"op": "reverse", "of": {"op": "item",
                                                "item": "cognition_defused"}}]}}],
     "selection": {"threshold": 60}}
"""

from collections.abc import Collection, Iterator, Sequence
from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field, model_validator

from app.rules.items import Item
from app.rules.process import Pole
from app.types import INPUT, Key

Number = Annotated[float, Field(ge=-1000, le=1000)]


class ItemValue(BaseModel):
    """An item's answer on 0-100; unknown when unanswered."""

    model_config = INPUT
    op: Literal["item"]
    item: Key


class Const(BaseModel):
    model_config = INPUT
    op: Literal["const"]
    value: Number


class Reverse(BaseModel):
    """100 minus its operand: the flexible end of an item read as need."""

    model_config = INPUT
    op: Literal["reverse"]
    of: "Expr"


class Aggregate(BaseModel):
    """Weighted mean or sum of the operands. `missing`: skip unknown operands (the default),
    count them as zero, or make the whole result unknown."""

    model_config = INPUT
    op: Literal["mean", "sum"]
    of: list["Expr"] = Field(min_length=1, max_length=50)
    weights: list[Number] | None = None
    missing: Literal["skip", "zero", "unknown"] = "skip"

    @model_validator(mode="after")
    def _weights_fit(self) -> "Aggregate":
        if self.weights is not None and len(self.weights) != len(self.of):
            raise ValueError("give one weight per operand")
        return self


Expr = Annotated[Union[ItemValue, Const, Reverse, Aggregate], Field(discriminator="op")]  # noqa: UP007


class Compare(BaseModel):
    """`left cmp right`; with an unknown side it is `if_missing` (false unless set)."""

    model_config = INPUT
    op: Literal["compare"]
    left: Expr
    cmp: Literal["<", "<=", "==", "!=", ">=", ">"]
    right: Expr
    if_missing: bool = False


class Equals(BaseModel):
    """A choice (or text) answer equals a value."""

    model_config = INPUT
    op: Literal["equals"]
    item: Key
    value: str = Field(max_length=200)


class Answered(BaseModel):
    model_config = INPUT
    op: Literal["answered"]
    item: Key


class AllOf(BaseModel):
    model_config = INPUT
    op: Literal["all", "any"]
    of: list["Condition"] = Field(min_length=1, max_length=50)


class Not(BaseModel):
    model_config = INPUT
    op: Literal["not"]
    of: "Condition"


Condition = Annotated[
    Union[Compare, Equals, Answered, AllOf, Not],  # noqa: UP007
    Field(discriminator="op"),
]


class Rule(BaseModel):
    model_config = INPUT
    id: Key
    pole: Pole
    value: Expr
    when: Condition | None = None


class Selection(BaseModel):
    """How scores become a target (see `app.rules.evaluate`)."""

    model_config = INPUT
    threshold: float = Field(default=60, ge=0, le=100)
    personal_min_checkins: int = Field(default=10, ge=2, le=1000)
    personal_z: float = Field(default=1.0, ge=0, le=10)
    sd_floor: float = Field(default=10, gt=0, le=100)
    prior_weight: float = Field(
        default=5, ge=0, le=1000, description="Check-ins' worth of pull toward the study's values"
    )
    distress_item: Key | None = "distress"
    distress_threshold: float = Field(default=90, ge=0, le=100)
    when_nothing_qualifies: Literal["consolidate", "nothing"] = "consolidate"


class RuleSet(BaseModel):
    model_config = INPUT
    rules: list[Rule] = Field(min_length=1, max_length=200)
    selection: Selection = Field(default_factory=Selection)

    @model_validator(mode="after")
    def _distinct_ids(self) -> "RuleSet":
        ids = [rule.id for rule in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("rule ids must be distinct")
        return self


for _model in (Reverse, Aggregate, AllOf, Not, Rule):
    _model.model_rebuild()


def _item_refs(node: BaseModel, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, ItemValue | Equals | Answered):
        yield f"{path}.item", node.item
    for name in type(node).model_fields:
        value = getattr(node, name)
        if isinstance(value, BaseModel):
            yield from _item_refs(value, f"{path}.{name}")
        elif isinstance(value, list):
            for index, element in enumerate(value):
                if isinstance(element, BaseModel):
                    yield from _item_refs(element, f"{path}.{name}[{index}]")


def rule_set_problems(rule_set: RuleSet, item_keys: Collection[str]) -> list[tuple[str, str]]:
    """Item keys the questionnaire does not have, as (path of the node, message)."""
    problems = [
        (path, f"'{key}' is not an item of the questionnaire")
        for index, rule in enumerate(rule_set.rules)
        for path, key in _item_refs(rule, f"rules[{index}]")
        if key not in item_keys
    ]
    distress = rule_set.selection.distress_item
    if distress is not None and distress not in item_keys:
        problems.append(
            ("selection.distress_item", f"'{distress}' is not an item of the questionnaire")
        )
    return problems


def default_rule_set(items: Sequence[Item]) -> RuleSet:
    """One rule per pole measured by an item: the pole's score is that item's answer."""
    rules = [
        Rule(
            id=f"{item.pole}_{item.key}", pole=item.pole, value=ItemValue(op="item", item=item.key)
        )
        for item in items
        if item.pole is not None
    ]
    keys = {item.key for item in items}
    return RuleSet(
        rules=rules,
        selection=Selection(distress_item="distress" if "distress" in keys else None),
    )

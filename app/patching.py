"""Partial updates (PATCH): apply only the fields a request set."""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from app.errors import Invalid
from app.types import INPUT


def _null_only_where_clearable(schema: dict[str, Any], model: type[BaseModel]) -> None:
    # Every field is optional, but null is accepted only where it clears a value: say so.
    clearable: frozenset[str] = getattr(model, "clearable", frozenset())
    for name, prop in schema.get("properties", {}).items():
        if name in clearable or "anyOf" not in prop:
            continue
        kept = [choice for choice in prop["anyOf"] if choice != {"type": "null"}]
        del prop["anyOf"]
        if prop.get("default", ...) is None:
            del prop["default"]
        if len(kept) == 1:
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept


class PatchBody(BaseModel):
    """A PATCH body: a field left out stays as it is; null clears only the `clearable` ones."""

    model_config = ConfigDict(**INPUT, json_schema_extra=_null_only_where_clearable)
    clearable: ClassVar[frozenset[str]] = frozenset()


def apply_patch(target: object, patch: PatchBody) -> list[str]:
    """Copy the fields `patch` set onto `target`; a null is refused unless the field may be
    cleared. Returns the names of the fields changed, sorted."""
    changes = patch.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field not in patch.clearable:
            raise Invalid(f"body.{field}", f"{field} cannot be null")
        setattr(target, field, value)
    return sorted(changes)

"""Partial updates (PATCH): apply only the fields a request set."""

from collections.abc import Collection

from pydantic import BaseModel

from app.errors import Invalid


def apply_patch(target: object, patch: BaseModel, nullable: Collection[str] = ()) -> list[str]:
    """Copy the fields `patch` set onto `target`; a null is refused unless the field may be
    cleared. Returns the names of the fields changed, sorted."""
    changes = patch.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field not in nullable:
            raise Invalid(f"body.{field}", f"{field} cannot be null")
        setattr(target, field, value)
    return sorted(changes)

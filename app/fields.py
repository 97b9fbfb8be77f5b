"""Column helpers shared by the table models."""

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum
from sqlmodel import Field

from app.db import UTCDateTime

# Where new row ids come from: random (uuid4) unless a simulation draws them from its seed,
# so the same seed gives the same study, ids and all.
_seeded_ids: ContextVar[random.Random | None] = ContextVar("seeded_ids", default=None)


def new_id() -> uuid.UUID:
    source = _seeded_ids.get()
    return uuid.uuid4() if source is None else uuid.UUID(int=source.getrandbits(128), version=4)


@contextmanager
def seeded_ids(seed: str) -> Iterator[None]:
    """Row ids drawn from the seed while inside (in this thread or task)."""
    token = _seeded_ids.set(random.Random(seed))
    try:
        yield
    finally:
        _seeded_ids.reset(token)


def id_field() -> Any:
    return Field(default_factory=new_id, primary_key=True)


def utc_field(*, nullable: bool = False, index: bool = False, default: Any = ...) -> Any:
    if default is ... and nullable:
        default = None
    return Field(default=default, sa_type=UTCDateTime, nullable=nullable, index=index)


def json_field(default_factory: Any = dict, server_default: str | None = None) -> Any:
    # A server default is for columns a migration added to tables that had rows already.
    column = {} if server_default is None else {"server_default": server_default}
    return Field(
        default_factory=default_factory, sa_type=JSON, nullable=False, sa_column_kwargs=column
    )


def is_aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() is not None


def enum_field(enum_cls: type[StrEnum], default: Any = ...) -> Any:
    """A StrEnum stored as its value in a plain VARCHAR, loaded back as the enum."""
    column_type = Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
    )
    return Field(default=default, sa_type=column_type)

"""Rows kept as numbered versions (schedules, overrides, questionnaires, rule sets,
libraries): the newest is in force, and all of them stay for the record."""

from typing import Any, TypeVar

from sqlalchemy import ColumnElement
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

Versioned = TypeVar("Versioned", bound=SQLModel)


def versions_query(
    model: type[Versioned], *where: ColumnElement[bool]
) -> SelectOfScalar[Versioned]:
    """All versions, newest first (to paginate)."""
    version: Any = model.version  # type: ignore[attr-defined]
    return select(model).where(*where).order_by(col(version).desc())


def all_versions(
    session: Session, model: type[Versioned], *where: ColumnElement[bool]
) -> list[Versioned]:
    """Newest first."""
    return list(session.exec(versions_query(model, *where)))


def latest_version(
    session: Session, model: type[Versioned], *where: ColumnElement[bool]
) -> Versioned | None:
    version: Any = model.version  # type: ignore[attr-defined]
    return session.exec(select(model).where(*where).order_by(col(version).desc()).limit(1)).first()


def next_version(latest: Any) -> int:
    return (latest.version if latest is not None else 0) + 1

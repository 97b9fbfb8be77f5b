"""Rows kept as numbered versions (schedules, overrides, questionnaires, rule sets,
libraries): the newest is in force, and all of them stay for the record."""

from typing import Any, TypeVar

from sqlalchemy import ColumnElement
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.pagination import Page, PageParams, paginate

Versioned = TypeVar("Versioned", bound=SQLModel)


def _newest_first(model: type[Versioned], *where: ColumnElement[bool]) -> SelectOfScalar[Any]:
    version: Any = model.version  # type: ignore[attr-defined]
    return select(model).where(*where).order_by(col(version).desc())


def all_versions(
    session: Session, model: type[Versioned], *where: ColumnElement[bool]
) -> list[Versioned]:
    """Newest first."""
    return list(session.exec(_newest_first(model, *where)))


def version_page(
    session: Session, model: type[Versioned], page: PageParams, *where: ColumnElement[bool]
) -> Page[Versioned]:
    """One page of the versions, newest first."""
    return paginate(session, _newest_first(model, *where), page)


def latest_version(
    session: Session, model: type[Versioned], *where: ColumnElement[bool]
) -> Versioned | None:
    version: Any = model.version  # type: ignore[attr-defined]
    return session.exec(select(model).where(*where).order_by(col(version).desc()).limit(1)).first()


def next_version(latest: Any) -> int:
    return (latest.version if latest is not None else 0) + 1

"""Offset pagination with a hard cap on the page size."""

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlmodel import Session
from sqlmodel.sql.expression import Select, SelectOfScalar

MAX_PAGE_SIZE = 200
T = TypeVar("T")


class PageParams(BaseModel):
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None

    def with_items(self, items: list[Any]) -> "Page[Any]":
        return Page(items=items, limit=self.limit, offset=self.offset, next_offset=self.next_offset)


def paginate(
    session: Session, query: SelectOfScalar[Any] | Select[*tuple[Any, ...]], page: PageParams
) -> Page[Any]:
    # One extra row tells whether another page exists without a COUNT(*).
    rows = list(session.exec(query.offset(page.offset).limit(page.limit + 1)))
    more = len(rows) > page.limit
    return Page(
        items=rows[: page.limit],
        limit=page.limit,
        offset=page.offset,
        next_offset=page.offset + page.limit if more else None,
    )


def map_page(page: Page[Any], convert: Any) -> Page[Any]:
    return page.with_items([convert(item) for item in page.items])

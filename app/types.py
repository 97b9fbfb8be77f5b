"""Validated scalar types shared by input models."""

import re
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field, StringConstraints

# Every request body refuses fields it does not know.
INPUT = ConfigDict(extra="forbid", str_strip_whitespace=True)


@cache
def _zones() -> frozenset[str]:
    # The IANA database's names as the tzdata package lists them, not the host's files
    # (which add "localtime", the machine's own zone), less "Factory" (IANA's "not set").
    listed = resources.files("tzdata").joinpath("zones").read_text().split()
    return frozenset(listed) - {"Factory"}


def timezone_names() -> list[str]:
    """Every zone a TimezoneName takes, sorted (for a form's choices)."""
    return sorted(_zones())


def _check_timezone(value: str) -> str:
    if value not in _zones():
        raise ValueError(f"'{value}' is not an IANA time zone (for example Europe/Berlin)")
    return value


TimezoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_check_timezone)]
LocaleTag = Annotated[
    str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z]{2}|-[A-Za-z]{4})?$", max_length=16)
]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Pseudonym = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    """The form an email is stored, compared and looked up in."""
    return email.strip().lower()


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value.lower()


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_check_email)]


# What the databases store: integer columns are 32-bit on PostgreSQL. Every integer the API
# takes is bounded at least this tightly, so none reaches a column it overflows.
INT32_MAX = 2**31 - 1
VersionNumber = Annotated[int, Field(ge=1, le=INT32_MAX)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]

# Dates and instants a request may name. Python's own range (years 1-9999) is too wide:
# a bound at its edge overflows as soon as it moves to UTC or gains a day, so a query or a
# stream would fail after it started. These leave centuries of room either side of any
# study and keep every conversion inside what Python and both databases represent.
FIRST_DATE = date(1900, 1, 1)
LAST_DATE = date(2999, 12, 31)
_FIRST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
_LAST_INSTANT = datetime(3000, 1, 1, tzinfo=UTC)


def _check_date(value: date) -> date:
    if not FIRST_DATE <= value <= LAST_DATE:
        raise ValueError(f"give a date from {FIRST_DATE} to {LAST_DATE}")
    return value


def _check_instant(value: datetime) -> datetime:
    if not _FIRST_INSTANT <= value < _LAST_INSTANT:
        raise ValueError(
            f"give an instant from {_FIRST_INSTANT.isoformat()} to before "
            f"{_LAST_INSTANT.isoformat()}"
        )
    return value


CalendarDate = Annotated[date, AfterValidator(_check_date)]
Instant = Annotated[AwareDatetime, AfterValidator(_check_instant)]

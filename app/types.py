"""Validated scalar types shared by input models."""

import re
from functools import cache
from importlib import resources
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, StringConstraints

# Every request body refuses fields it does not know.
INPUT = ConfigDict(extra="forbid", str_strip_whitespace=True)


@cache
def _zones() -> frozenset[str]:
    # The IANA database's names as the tzdata package lists them, not the host's files
    # (which add "localtime", the machine's own zone), less "Factory" (IANA's "not set").
    listed = resources.files("tzdata").joinpath("zones").read_text().split()
    return frozenset(listed) - {"Factory"}


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

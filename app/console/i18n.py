"""Console text in English and Spanish.

Templates and pages write English (`_("Sign in")` in a template, `gettext` in Python); each
other language has a folder of JSON catalogues under `locales/<lang>/`, one file per page
(`locales/es/studies.json`: {"English text": "Texto"}), merged at start-up. One file per
page keeps helpers' additions apart; tests/test_console_i18n.py fails on any English text
of a template that a catalogue lacks. The language comes from the `kairos_lang` cookie set by
the switch, else the browser's Accept-Language, else English."""

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path

DEFAULT = "en"
LANGUAGES: Mapping[str, str] = {"en": "English", "es": "Español"}
LANGUAGE_COOKIE = "kairos_lang"
_LOCALES = Path(__file__).parent / "locales"


@cache
def catalogue(language: str) -> Mapping[str, str]:
    """Every translation for a language, from all of its catalogue files."""
    merged: dict[str, str] = {}
    for path in sorted((_LOCALES / language).glob("*.json")):
        for english, translated in json.loads(path.read_text(encoding="utf-8")).items():
            if merged.get(english, translated) != translated:
                raise ValueError(f"{path}: {english!r} is translated differently elsewhere")
            merged[english] = translated
    return merged


class Translator:
    """gettext and ngettext for one language (what Jinja2's i18n extension calls)."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._messages = {} if language == DEFAULT else catalogue(language)

    def gettext(self, message: str) -> str:
        return self._messages.get(message, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.gettext(singular if n == 1 else plural)


def _accepted(header: str) -> list[str]:
    """The languages of an Accept-Language header (RFC 9110 §12.5.4), most wanted first."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            weighted.append((-quality, position, tag.strip().lower()))
    return [tag for _, _, tag in sorted(weighted)]


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    if cookie is not None and cookie in LANGUAGES:
        return cookie
    for tag in _accepted(accept_language or ""):
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return DEFAULT

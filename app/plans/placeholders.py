"""Placeholders in skill texts, filled from the participant's own plan (pure).

A placeholder is `{<name>}` or `{<name>:<pole>}`, where name is one of `value`, `goal`,
`trigger`, `warning_sign`, `strategy`, `support`, `reason` (one per plan section) and pole
one of the twelve process poles. `{strategy}` reads the plan's first strategy,
`{strategy:cognitive_fusion}` its first strategy tied to that pole. Every placeholder a text
uses has a fallback written beside it in the same language, read when the plan has no such
entry. `{{` and `}}` are literal braces. The grammar is Python's format-string syntax,
parsed by `string.Formatter`, with only these fields allowed.
"""

from collections.abc import Mapping
from string import Formatter

from app.plans.content import PLACEHOLDER_OF
from app.rules.process import Pole

NAMES = frozenset(PLACEHOLDER_OF.values())
KNOWN = frozenset({*NAMES, *(f"{name}:{pole}" for name in NAMES for pole in Pole)})
_FORMATTER = Formatter()


def placeholders_in(text: str) -> list[str]:
    """The placeholders of a text, as written (`strategy:cognitive_fusion`); ValueError
    when a brace is unbalanced or a field is not a placeholder."""
    found = []
    for _, field, spec, conversion in _FORMATTER.parse(text):
        if field is None:
            continue
        token = f"{field}:{spec}" if spec else field
        if conversion is not None:
            raise ValueError(f"'{{{token}!{conversion}}}': a placeholder takes no conversion")
        if token not in KNOWN:
            raise ValueError(
                f"'{{{token}}}' is not a placeholder; known: "
                + ", ".join(f"{{{name}}}" for name in sorted(NAMES))
                + " (each also as {name:<pole>}); write {{ and }} for a literal brace"
            )
        found.append(token)
    return found


def text_problems(text: str, fallbacks: Mapping[str, str]) -> list[str]:
    """Why a text cannot be saved: a placeholder unknown, or one without its fallback."""
    try:
        used = placeholders_in(text)
    except ValueError as error:
        return [str(error)]
    return [f"'{{{token}}}' needs a fallback" for token in used if token not in fallbacks]


def fallback_problems(fallbacks: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(key, f"'{key}' is not a placeholder") for key in fallbacks if key not in KNOWN]


def fill(text: str, words: Mapping[str, str], fallbacks: Mapping[str, str]) -> str:
    """The text with each placeholder replaced by the plan's words or else its fallback."""
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError:
        # Saved before placeholders existed (libraries refuse stray braces only since):
        # such a text is shown as written.
        return text
    out = []
    for literal, field, spec, _ in parsed:
        out.append(literal)
        if field is not None:
            token = f"{field}:{spec}" if spec else field
            out.append(words.get(token) or fallbacks.get(token) or f"{{{token}}}")
    return "".join(out)

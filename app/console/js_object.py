"""The object of a pasted JavaScript snippet, read without running it: the Firebase console
shows a web app's config as `const firebaseConfig = { apiKey: "…", … };`, and staff paste
that (or the same object as JSON). Keys are names or quoted strings, values are quoted
strings; anything else is refused, saying on which line."""

import json
import re

_SPACE = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)*", re.DOTALL)
_NAME = re.compile(r"[A-Za-z_$][\w$]*")
_STRING = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'""")
_NAMED = re.compile(r"\b[A-Za-z_$][\w$]*\s*=\s*\{")  # `firebaseConfig = {`
_ESCAPE_OR_QUOTE = re.compile(r'\\.|"')


class NotAnObject(ValueError):
    """The text has no object of quoted strings; the message says where it goes wrong."""


def _as_double_quoted(found: re.Match[str]) -> str:
    # In single quotes `\'` is a quote and `"` is itself; in double quotes the other way.
    return {"\\'": "'", '"': '\\"'}.get(found.group(), found.group())


def _string(token: str) -> str:
    """A quoted token's text; single quotes become JSON's double ones."""
    if token[0] == "'":
        token = '"' + _ESCAPE_OR_QUOTE.sub(_as_double_quoted, token[1:-1]) + '"'
    try:
        text: str = json.loads(token)
    except json.JSONDecodeError as error:
        raise NotAnObject(f"the string {token} has an escape JSON does not know") from error
    return text


class _Reader:
    def __init__(self, text: str, at: int) -> None:
        self.text = text
        self.at = at

    def skip(self) -> None:
        found = _SPACE.match(self.text, self.at)
        self.at = found.end() if found else self.at

    def take(self, pattern: re.Pattern[str]) -> str | None:
        self.skip()
        found = pattern.match(self.text, self.at)
        if found is None:
            return None
        self.at = found.end()
        return found.group()

    def take_char(self, char: str) -> bool:
        self.skip()
        if self.text.startswith(char, self.at):
            self.at += 1
            return True
        return False

    def refuse(self, expected: str) -> NotAnObject:
        line = self.text.count("\n", 0, self.at) + 1
        return NotAnObject(f"line {line}: expected {expected}")


def object_of(text: str) -> dict[str, str]:
    """The first object of the text: after `name = ` if there is one (a snippet's `import
    { initializeApp }` comes before it), else the first `{`."""
    named = _NAMED.search(text)
    start = named.end() - 1 if named else text.find("{")
    if start < 0:
        raise NotAnObject("no object: paste it from { to }")
    try:
        found: dict[str, object] = json.JSONDecoder().raw_decode(text, start)[0]  # at a {
    except json.JSONDecodeError:
        return _literal(_Reader(text, start + 1))
    for key, value in found.items():
        if not isinstance(value, str):
            raise NotAnObject(f"{key}: expected a quoted value")
    return {key: str(value) for key, value in found.items()}


def _literal(reader: _Reader) -> dict[str, str]:
    found: dict[str, str] = {}
    while not reader.take_char("}"):
        key = reader.take(_NAME) or reader.take(_STRING)
        if key is None:
            raise reader.refuse("a key or }")
        if not reader.take_char(":"):
            raise reader.refuse(f"a colon after {key}")
        value = reader.take(_STRING)
        if value is None:
            raise reader.refuse(f"a quoted value for {key}")
        found[key if key[0] not in "'\"" else _string(key)] = _string(value)
        if not reader.take_char(","):
            if reader.take_char("}"):
                break
            raise reader.refuse("a comma or }")
    return found

"""A rule set's JSON as readable conditions ("cognition_fused ≥ 60 and …"), node by node,
so that a validation problem can be shown next to the node it names.

It reads the raw JSON, not a validated `RuleSet`: the text being shown may be the one just
refused. Each node knows two paths: the plain one the API's item checks name
(`rules[0].value.item`) and the one pydantic names, with the `op` of each expression or
condition in it (`rules[0].value.mean.of[1].item.item`); a problem goes to the deepest
node whose path, of either kind, begins its field."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

COMPARISONS = {"<": "<", "<=": "≤", "==": "=", "!=": "≠", ">=": "≥", ">": ">"}


@dataclass(frozen=True)
class Word:
    """A connecting word ("and", "scores"): English here, translated by the template."""

    word: str


@dataclass
class Node:
    path: str
    located: str  # the path with each union member's op, as pydantic locates errors
    parts: "list[str | Word | Node]" = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def nodes(self) -> Iterator["Node"]:
        yield self
        for part in self.parts:
            if isinstance(part, Node):
                yield from part.nodes()

    @property
    def anchor(self) -> str:
        return "node-" + "".join(c if c.isalnum() else "-" for c in self.path or "root")


@dataclass
class ReadableRule:
    index: int
    node: Node  # "<id> scores <pole> as <value>, when <condition>"


@dataclass
class Readable:
    root: Node
    rules: list[ReadableRule]
    selection: list[tuple[str, Node]]


def _child(raw: Any, path: str, located: str, nested: bool = False) -> Node:
    """An expression or condition (a union member: pydantic puts its op in the path)."""
    op = raw.get("op") if isinstance(raw, dict) else None
    tagged = f"{located}.{op}" if isinstance(op, str) else located
    node = Node(path, tagged)
    if not isinstance(raw, dict):
        node.parts.append(repr(raw))
        return node
    sub = raw.get("of")
    if op == "item":
        node.parts.append(str(raw.get("item")))
    elif op == "const":
        node.parts.append(str(raw.get("value")))
    elif op == "reverse":
        node.parts += ["100 - ", _child(sub, f"{path}.of", f"{tagged}.of", nested=True)]
    elif op in ("mean", "sum") and isinstance(sub, list):
        weights = raw.get("weights")
        node.parts.append(f"{op}(")
        for index, operand in enumerate(sub):
            if index:
                node.parts.append(", ")
            node.parts.append(_child(operand, f"{path}.of[{index}]", f"{tagged}.of[{index}]"))
            if isinstance(weights, list) and index < len(weights):
                node.parts.append(f" * {weights[index]}")
        if raw.get("missing", "skip") != "skip":
            node.parts += ["; ", Word("missing"), f": {raw.get('missing')}"]
        node.parts.append(")")
    elif op == "compare":
        cmp = raw.get("cmp")
        node.parts += [
            _child(raw.get("left"), f"{path}.left", f"{tagged}.left", nested=True),
            f" {COMPARISONS.get(cmp, str(cmp)) if isinstance(cmp, str) else cmp} ",
            _child(raw.get("right"), f"{path}.right", f"{tagged}.right", nested=True),
        ]
        if raw.get("if_missing"):
            node.parts.append(Word("(true when unanswered)"))
    elif op == "equals":
        node.parts += [str(raw.get("item")), Word("is"), f"“{raw.get('value')}”"]
    elif op == "answered":
        node.parts += [str(raw.get("item")), Word("is answered")]
    elif op in ("all", "any") and isinstance(sub, list):
        joined: list[str | Word | Node] = []
        for index, operand in enumerate(sub):
            if index:
                joined.append(Word("and" if op == "all" else "or"))
            joined.append(
                _child(operand, f"{path}.of[{index}]", f"{tagged}.of[{index}]", nested=True)
            )
        node.parts += ["(", *joined, ")"] if nested and len(sub) > 1 else joined
    elif op == "not":
        node.parts += [Word("not"), "(", _child(sub, f"{path}.of", f"{tagged}.of"), ")"]
    else:
        node.parts.append(f"{raw!r}")
    return node


def _rule(raw: Any, index: int) -> Node:
    path = f"rules[{index}]"
    node = Node(path, path)
    if not isinstance(raw, dict):
        node.parts.append(repr(raw))
        return node
    node.parts += [
        Node(f"{path}.id", f"{path}.id", [str(raw.get("id"))]),
        Word("scores"),
        Node(f"{path}.pole", f"{path}.pole", [str(raw.get("pole"))]),
        Word("as"),
        _child(raw.get("value"), f"{path}.value", f"{path}.value"),
    ]
    if raw.get("when") is not None:
        node.parts += [",", Word("when"), _child(raw.get("when"), f"{path}.when", f"{path}.when")]
    return node


def _starts(problem: str, path: str) -> bool:
    return problem == path or problem.startswith((path + ".", path + "["))


def _depth(problem: str, node: Node) -> int:
    """How much of the problem's field the node's path covers (0: none)."""
    return max((len(p) for p in (node.path, node.located) if _starts(problem, p)), default=0)


def readable(raw: Any, problems: list[tuple[str, str]]) -> Readable:
    """The rule set `raw` (parsed JSON, valid or not) node by node, with each problem
    (path without `body.`, message) placed at its node; the root takes the rest."""
    root = Node("", "")
    rules = raw.get("rules") if isinstance(raw, dict) else None
    shown = [
        ReadableRule(index, _rule(rule, index))
        for index, rule in enumerate(rules if isinstance(rules, list) else [])
    ]
    selection = raw.get("selection") if isinstance(raw, dict) else None
    settings = [
        (name, Node(f"selection.{name}", f"selection.{name}", [str(value)]))
        for name, value in (selection.items() if isinstance(selection, dict) else [])
    ]
    root.parts = [*(rule.node for rule in shown), *(node for _, node in settings)]
    nodes = list(root.nodes())[1:]
    for path, message in problems:
        depths = [(_depth(path, node), index) for index, node in enumerate(nodes)]
        depth, index = max(depths, default=(0, -1))
        (nodes[index] if depth > 0 else root).errors.append(message)
    return Readable(root, shown, settings)

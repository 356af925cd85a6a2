"""Edge conditions over variables: a small, safe expression language (never ``eval``).

An edge may carry ``data.expression`` beside (or instead of) its plain-language
``condition``; such an edge is decided by the expression alone, without a model call
(Retell calls these equation conditions). The language::

    party_size > 8
    customer_tier == "gold" and not (balance < 0)
    callback_phone is set            # present and not null or ""
    reason is not set
    plan in ["pro", "team"]          # also: not in; a variable may be the right side
    customer.tier == "gold"          # dotted names read into object session variables

Values: numbers, "strings" (or 'strings'), ``true``, ``false``, ``null``, lists of those.
Comparisons: ``== != < <= > >=``; ``and``, ``or``, ``not``, parentheses. Keywords are
case-insensitive. Variables are the session variables merged with the extracted ones
(extracted values win), as in prompts.

Evaluation never raises past :func:`evaluate`: a missing variable makes every comparison
false (only ``is not set`` is true of it); a value of the wrong type (``"abc" > 5``) is an
:class:`ExpressionError` reported by the caller and counted as false. Numeric text
compares as a number (session variables often arrive as strings). Parsing is linear and
bounded (length and nesting), so a stored expression cannot stall the server.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 1000
MAX_DEPTH = 32

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "set", "true", "false", "null"}
_COMPARE = {"==", "!=", "<", "<=", ">", ">="}


class ExpressionError(ValueError):
    """A malformed expression (at parse time) or a value of the wrong type (at run time)."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number, string, op, name, keyword, end
    text: str
    at: int


# The syntax tree: tuples, built once per edge and cached with the pathway.
# ("lit", value) ("var", "a.b") ("list", [nodes]) ("not", node) ("and", [nodes]) ("or", [nodes])
# ("cmp", op, left, right) ("in", left, right, negated) ("set", name, negated)
Tree = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression: its text, its tree and the variables it reads."""

    text: str
    tree: Tree
    names: tuple[str, ...]

    def evaluate(self, variables: Mapping[str, Any]) -> bool:
        """True or False; raises :class:`ExpressionError` on a value of the wrong type."""
        return _truth(_eval(self.tree, variables))


def parse(text: str) -> Expression:
    """Parse ``text``; raises :class:`ExpressionError` saying where and what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("the expression is empty: write a condition such as party_size > 8")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    parser = _Parser(_tokens(text))
    tree = parser.expression(0)
    parser.expect_end()
    return Expression(text, tree, tuple(dict.fromkeys(parser.names)))


def root_name(name: str) -> str:
    """The variable a dotted name reads (``customer`` of ``customer.tier``)."""
    return name.split(".", 1)[0]


def _tokens(text: str) -> list[Token]:
    tokens: list[Token] = []
    at = 0
    while at < len(text):
        if text[at:].isspace():
            break
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise ExpressionError(f"unexpected character {text[at:].lstrip()[:1]!r} at position {at + 1}")
        kind = match.lastgroup or ""
        value, begins = match.group(kind), match.start(kind)
        if kind == "name" and value.lower() in _KEYWORDS:
            kind, value = "keyword", value.lower()
        tokens.append(Token(kind, value, begins))
        at = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.names: list[str] = []

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def accept(self, kind: str, text: str) -> bool:
        if self.token.kind == kind and self.token.text == text:
            self.index += 1
            return True
        return False

    def fail(self, what: str) -> ExpressionError:
        token = self.token
        found = "the end" if token.kind == "end" else repr(token.text)
        return ExpressionError(f"expected {what} at position {token.at + 1}, found {found}")

    def expect_end(self) -> None:
        if self.token.kind != "end":
            raise self.fail("and, or, or the end of the expression")

    def expression(self, depth: int) -> Tree:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep")
        parts = [self.conjunction(depth)]
        while self.accept("keyword", "or"):
            parts.append(self.conjunction(depth))
        return parts[0] if len(parts) == 1 else ("or", parts)

    def conjunction(self, depth: int) -> Tree:
        parts = [self.negation(depth)]
        while self.accept("keyword", "and"):
            parts.append(self.negation(depth))
        return parts[0] if len(parts) == 1 else ("and", parts)

    def negation(self, depth: int) -> Tree:
        if self.accept("keyword", "not"):
            if depth > MAX_DEPTH:
                raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep")
            return ("not", self.negation(depth + 1))
        return self.comparison(depth)

    def comparison(self, depth: int) -> Tree:
        left = self.operand(depth)
        token = self.token
        if token.kind == "op" and token.text in _COMPARE:
            self.take()
            return ("cmp", token.text, left, self.operand(depth))
        if self.accept("keyword", "in"):
            return ("in", left, self.operand(depth), False)
        if token.kind == "keyword" and token.text == "not" and self._next_is("keyword", "in"):
            self.index += 2
            return ("in", left, self.operand(depth), True)
        if self.accept("keyword", "is"):
            negated = self.accept("keyword", "not")
            if not self.accept("keyword", "set"):
                raise self.fail('"set" (as in: name is set, name is not set)')
            if left[0] != "var":
                raise ExpressionError(
                    f"only a variable can be tested with 'is set' (position {token.at + 1})"
                )
            return ("set", left[1], negated)
        return left

    def _next_is(self, kind: str, text: str) -> bool:
        following = self.tokens[self.index + 1] if self.index + 1 < len(self.tokens) else None
        return following is not None and following.kind == kind and following.text == text

    def operand(self, depth: int) -> Tree:
        token = self.take()
        if token.kind == "number":
            number = float(token.text)
            return ("lit", int(number) if "." not in token.text else number)
        if token.kind == "string":
            return ("lit", _unquote(token.text))
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            return ("lit", {"true": True, "false": False, "null": None}[token.text])
        if token.kind == "name":
            self.names.append(token.text)
            return ("var", token.text)
        if token.kind == "op" and token.text == "(":
            inner = self.expression(depth + 1)
            if not self.accept("op", ")"):
                raise self.fail('")"')
            return inner
        if token.kind == "op" and token.text == "[":
            items: list[Tree] = []
            if not self.accept("op", "]"):
                while True:
                    item = self.operand(depth + 1)
                    if item[0] not in ("lit",):
                        raise ExpressionError(
                            f"a list may hold only values, not {item[0]} (position {token.at + 1})"
                        )
                    items.append(item)
                    if self.accept("op", "]"):
                        break
                    if not self.accept("op", ","):
                        raise self.fail('"," or "]"')
            return ("list", items)
        self.index -= 1
        raise self.fail("a value or a variable name")


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


class _Missing:
    """A variable that is not set: every comparison with it is false."""

    def __repr__(self) -> str:
        return "<not set>"


MISSING = _Missing()


def lookup(variables: Mapping[str, Any], name: str) -> Any:
    value: Any = variables
    for part in name.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return MISSING
    return MISSING if value is None else value


def _eval(tree: Tree, variables: Mapping[str, Any]) -> Any:
    match tree[0]:
        case "lit":
            return tree[1]
        case "var":
            return lookup(variables, tree[1])
        case "list":
            return [_eval(item, variables) for item in tree[1]]
        case "not":
            return not _truth(_eval(tree[1], variables))
        case "and":
            return all(_truth(_eval(part, variables)) for part in tree[1])
        case "or":
            return any(_truth(_eval(part, variables)) for part in tree[1])
        case "set":
            value = lookup(variables, tree[1])
            present = value is not MISSING and value != "" and value != [] and value != {}
            return present != tree[2]
        case "in":
            return _contains(_eval(tree[2], variables), _eval(tree[1], variables)) != tree[3]
        case "cmp":
            return _compare(tree[1], _eval(tree[2], variables), _eval(tree[3], variables))
    raise ExpressionError(f"unknown expression node {tree[0]!r}")  # pragma: no cover


def _truth(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "0")
    return bool(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip().replace(",", ""))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        a_bool, b_bool = _boolean(left), _boolean(right)
        return a_bool is not None and a_bool == b_bool
    if isinstance(left, str) and isinstance(right, str):
        return left.strip().casefold() == right.strip().casefold()
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a == b
    return bool(left == right)


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is MISSING or right is MISSING:
        return False
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    a, b = _number(left), _number(right)
    if a is None or b is None:
        raise ExpressionError(f"cannot compare {_show(left)} {op} {_show(right)}: both sides must be numbers")
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _contains(container: Any, item: Any) -> bool:
    if container is MISSING or item is MISSING:
        return False
    if isinstance(container, str):
        if not isinstance(item, str):
            raise ExpressionError(f"cannot look for {_show(item)} in the text {_show(container)}")
        return item.strip().casefold() in container.casefold()
    if isinstance(container, Sequence):
        return any(_equal(item, candidate) for candidate in container)
    raise ExpressionError(f"'in' needs a list or a text on its right, not {_show(container)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

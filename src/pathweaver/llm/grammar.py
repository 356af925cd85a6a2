"""GBNF grammars that constrain the embedded model's decoding (llama.cpp's grammar format).

Two grammars are built here, both from the JSON Schema subset of :mod:`pathweaver.llm.schema`:

* :func:`json_grammar` — one JSON object valid for a schema (structured output);
* :func:`tool_call_grammar` — a reply that is *either* plain text *or* exactly one tool
  call in Qwen's hermes format, ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``,
  where the name is one of the offered tools and the arguments follow that tool's schema.
  A choice parameter (``oneOf`` of ``const`` values) admits exactly those values.

Strings are bounded (``maxLength``, else ``max_string``), arrays too (``maxItems``, else
``max_items``), so a small model cannot run away inside a value; whitespace between tokens
is at most one space. What a grammar cannot express (``pattern``, ``minimum`` ...) is left
to the validation every answer goes through afterwards.

The plain-text branch accepts any text that does not start with ``<tool_call>``, so the
first few characters decide which branch the model took.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pathweaver.llm.base import ToolSpec

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"

_SHARED = {
    "ws": '" "?',
    "char": r'[^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})',
    "integer": r'"-"? ("0" | [1-9] [0-9]{0,15})',
    "number": r'integer ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,3})?',
    "email": r'"\"" [A-Za-z0-9._%+-]{1,64} "@" [A-Za-z0-9-]{1,63} ("." [A-Za-z0-9-]{1,63}){1,4} "\""',
}
_GENERIC = {
    "value": "object | array | string | number | boolean | null",
    "object": r'"{" ws (string ws ":" ws value (ws "," ws string ws ":" ws value)*)? ws "}"',
    "array": r'"[" ws (value (ws "," ws value)*)? ws "]"',
    "string": r'"\"" char{0,MAX} "\""',
    "boolean": '"true" | "false"',
    "null": '"null"',
}


def json_grammar(schema: Mapping[str, Any], *, max_string: int = 300, max_items: int = 20) -> str:
    """A grammar whose ``root`` is one JSON value valid for ``schema``."""
    builder = _Builder(max_string, max_items)
    return builder.grammar(f"root ::= {builder.value(schema)} ws")


def tool_call_grammar(tools: Sequence[ToolSpec], *, max_string: int = 300, max_items: int = 20) -> str:
    """A grammar for "plain text, or one call of one of ``tools``"."""
    if not tools:
        raise ValueError("tool_call_grammar needs at least one tool")
    builder = _Builder(max_string, max_items)
    calls = " | ".join(
        f'{_literal(json.dumps(tool.name))} ws "," ws {_literal(json.dumps("arguments"))} ws ":" ws '
        f"{builder.value(tool.parameters)}"
        for tool in tools
    )
    starts = [
        f"{_literal(TOOL_CALL_OPEN[:i])} {_negated(TOOL_CALL_OPEN[i])}" for i in range(1, len(TOOL_CALL_OPEN))
    ]
    first = r"[^<{ \t\r\n]"  # not a tag, not a bare call, not leading whitespace
    return builder.grammar(
        "root ::= tool-call | plain-text",
        f'tool-call ::= {_literal(TOOL_CALL_OPEN)} "\\n"? call "\\n"? {_literal(TOOL_CALL_CLOSE)} | call',
        f'call ::= "{{" ws {_literal(json.dumps("name"))} ws ":" ws ({calls}) ws "}}"',
        f"plain-text ::= ({' | '.join([first, *starts])}) plain-char*",
        r"plain-char ::= [^\x00]",
    )


class _Builder:
    """Turns schemas into GBNF expressions; shared rules are emitted once, when used."""

    def __init__(self, max_string: int, max_items: int) -> None:
        self.max_string = max_string
        self.max_items = max_items
        self.used: set[str] = {"ws"}

    def grammar(self, *rules: str) -> str:
        needed = set(self.used)
        if needed & set(_GENERIC):
            needed |= set(_GENERIC) | {"char", "integer", "number"}
        if "number" in needed:
            needed.add("integer")
        if "email" in needed or "string" in needed:
            needed.add("char")
        shared = {**_SHARED, **_GENERIC, "string": _GENERIC["string"].replace("MAX", str(self.max_string))}
        lines = list(rules) + [f"{name} ::= {shared[name]}" for name in sorted(needed)]
        return "\n".join(lines) + "\n"

    def value(self, schema: Mapping[str, Any]) -> str:
        if "const" in schema:
            return _literal(_json(schema["const"]))
        if "enum" in schema:
            return "(" + " | ".join(_literal(_json(option)) for option in schema["enum"]) + ")"
        options = schema.get("oneOf") or schema.get("anyOf")
        if options:
            return "(" + " | ".join(self.value(option) for option in options) + ")"
        kinds = schema.get("type")
        if isinstance(kinds, list):
            rest = {key: value for key, value in schema.items() if key != "type"}
            return "(" + " | ".join(self.value({**rest, "type": kind}) for kind in kinds) + ")"
        match kinds:
            case "string":
                return self.string(schema)
            case "integer":
                return self.shared("integer")
            case "number":
                return self.shared("number")
            case "boolean":
                return '("true" | "false")'
            case "null":
                return '"null"'
            case "array":
                return self.array(schema)
            case "object" | None if "properties" in schema:
                return self.object(schema)
            case _:
                return self.shared("value" if kinds is None else "object")

    def shared(self, name: str) -> str:
        self.used.add(name)
        return name

    def string(self, schema: Mapping[str, Any]) -> str:
        if schema.get("format") == "email":
            return self.shared("email")
        self.used.add("char")
        low = int(schema.get("minLength", 0))
        high = max(low, int(schema.get("maxLength", self.max_string)))
        return f'"\\"" char{{{low},{high}}} "\\""'

    def array(self, schema: Mapping[str, Any]) -> str:
        items = schema.get("items")
        item = self.value(items) if isinstance(items, Mapping) else self.shared("value")
        low = int(schema.get("minItems", 0))
        high = max(low, int(schema.get("maxItems", self.max_items)))
        if high == 0:
            return '"[" ws "]"'
        more = f'(ws "," ws {item}){{{max(low - 1, 0)},{high - 1}}}'
        body = f"{item} {more}"
        return f'"[" ws {body if low else f"({body})?"} ws "]"'

    def object(self, schema: Mapping[str, Any]) -> str:
        properties: Mapping[str, Any] = schema.get("properties") or {}
        required = [key for key in properties if key in set(schema.get("required", ()))]
        optional = [key for key in properties if key not in required]
        pairs = {key: f'{_literal(_json(key))} ws ":" ws {self.value(properties[key])}' for key in properties}
        body = ' ws "," ws '.join(pairs[key] for key in required)
        if optional and required:
            body += " " + " ".join(f'(ws "," ws {pairs[key]})?' for key in optional)
        elif optional:
            chains = [
                " ".join([pairs[first], *(f'(ws "," ws {pairs[key]})?' for key in optional[i + 1 :])])
                for i, first in enumerate(optional)
            ]
            body = "(" + " | ".join(chains) + ")?"
        return f'"{{" ws {body} ws "}}"' if body else '"{" ws "}"'


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _literal(text: str) -> str:
    """A GBNF string literal."""
    escaped = re.sub(
        r'[\\"\n\r\t]', lambda m: {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(m[0], "\\" + m[0]), text
    )
    return f'"{escaped}"'


def _negated(char: str) -> str:
    """A GBNF character class of every character but ``char``."""
    escaped = "\\" + char if char in "]\\^-" else char
    return f"[^{escaped}]"

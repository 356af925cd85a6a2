"""The JSON Schema subset Pathweaver asks models for, and the one check every answer passes.

Models are asked for objects described by JSON Schema (extraction targets, choices among
labels, tool arguments). Whatever constrained the decoding (a grammar, an upstream's
``json_schema`` mode, a forced tool call), the answer is checked here before it is used,
so a model that answers with an invalid choice or a malformed object never moves a session
or stores a variable.

Supported keywords: ``type`` (a name or a list of names, e.g. ``["string", "null"]``),
``properties``, ``required``, ``additionalProperties``, ``items``, ``minItems``,
``maxItems``, ``enum``, ``const``, ``oneOf``, ``anyOf``, ``allOf``, ``minLength``,
``maxLength``, ``pattern``, ``minimum``, ``maximum``, ``exclusiveMinimum``,
``exclusiveMaximum`` and ``format: email``. Other keywords (``description``, ``title``,
``default`` ...) are annotations and are ignored, as JSON Schema prescribes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pathweaver.errors import ModelOutputError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n(.*?)\n?\s*```\s*$", re.S)


def validate(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """Return what is wrong with ``value`` for ``schema``, one message per problem.

    An empty list means the value is valid. Messages name the JSON path (``$.name``).
    """
    problems: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        allowed = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is_type(value, kind) for kind in allowed):
            return [f"{path}: expected {' or '.join(allowed)}, got {_type_name(value)}"]
    if "const" in schema and not _same(value, schema["const"]):
        problems.append(f"{path}: must be {json.dumps(schema['const'])}")
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        options = ", ".join(json.dumps(option) for option in schema["enum"])
        problems.append(f"{path}: must be one of {options}")
    if "oneOf" in schema:
        matches = sum(1 for option in schema["oneOf"] if not validate(value, option, path))
        if matches != 1:
            problems.append(f"{path}: must match exactly one of {_describe_options(schema['oneOf'])}")
    if "anyOf" in schema and all(validate(value, option, path) for option in schema["anyOf"]):
        problems.append(f"{path}: must match one of {_describe_options(schema['anyOf'])}")
    for option in schema.get("allOf", ()):
        problems.extend(validate(value, option, path))
    if isinstance(value, str):
        problems.extend(_string_problems(value, schema, path))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        problems.extend(_number_problems(value, schema, path))
    elif isinstance(value, dict):
        problems.extend(_object_problems(value, schema, path))
    elif isinstance(value, list):
        problems.extend(_array_problems(value, schema, path))
    return problems


def parse_object(text: str, schema: Mapping[str, Any], *, truncated: bool = False) -> dict[str, Any]:
    """Decode a model's answer into an object valid for ``schema``.

    Raises :class:`ModelOutputError` when the output was cut off (``truncated``), is not
    JSON, is not an object, or does not validate; a Markdown code fence around the JSON is
    tolerated because small models and some upstreams add one.
    """
    if truncated:
        raise ModelOutputError(
            "the model's answer was cut off before the JSON object was complete (max_tokens reached)",
            details={"output": text[-500:]},
        )
    fenced = _FENCE.match(text)
    try:
        value = json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError as error:
        raise ModelOutputError(
            f"the model's answer is not valid JSON ({error.msg} at position {error.pos})",
            details={"output": text[:500]},
        ) from None
    if not isinstance(value, dict):
        raise ModelOutputError(
            f"the model's answer is JSON but not an object (got {_type_name(value)})",
            details={"output": text[:500]},
        )
    problems = validate(value, schema)
    if problems:
        raise ModelOutputError(
            "the model's answer does not match the schema: " + "; ".join(problems[:5]),
            details={"problems": problems, "output": text[:500]},
        )
    return value


def _is_type(value: Any, kind: str) -> bool:
    match kind:
        case "string":
            return isinstance(value, str)
        case "integer":
            return (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, float) and value.is_integer()
            )
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "boolean":
            return isinstance(value, bool)
        case "object":
            return isinstance(value, dict)
        case "array":
            return isinstance(value, list)
        case "null":
            return value is None
        case _:
            return False


def _type_name(value: Any) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "boolean"
        case int() | float():
            return "number"
        case str():
            return "string"
        case list():
            return "array"
        case dict():
            return "object"
        case _:
            return type(value).__name__


def _same(value: Any, expected: Any) -> bool:
    """JSON equality: ``1 == 1.0`` but ``true != 1``."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return isinstance(value, bool) and isinstance(expected, bool) and value == expected
    return bool(value == expected) and _type_name(value) == _type_name(expected)


def _describe_options(options: list[Mapping[str, Any]]) -> str:
    if all("const" in option for option in options):
        return ", ".join(json.dumps(option["const"]) for option in options)
    return f"{len(options)} alternatives"


def _string_problems(value: str, schema: Mapping[str, Any], path: str) -> list[str]:
    problems = []
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        problems.append(f"{path}: longer than {schema['maxLength']} characters")
    if "minLength" in schema and len(value) < schema["minLength"]:
        problems.append(f"{path}: shorter than {schema['minLength']} characters")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        problems.append(f"{path}: does not match the pattern {schema['pattern']}")
    if schema.get("format") == "email" and not _EMAIL.match(value):
        problems.append(f"{path}: not an email address")
    return problems


def _number_problems(value: float, schema: Mapping[str, Any], path: str) -> list[str]:
    problems = []
    if "minimum" in schema and value < schema["minimum"]:
        problems.append(f"{path}: less than {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        problems.append(f"{path}: greater than {schema['maximum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        problems.append(f"{path}: not greater than {schema['exclusiveMinimum']}")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        problems.append(f"{path}: not less than {schema['exclusiveMaximum']}")
    return problems


def _object_problems(value: dict[str, Any], schema: Mapping[str, Any], path: str) -> list[str]:
    problems = []
    properties: Mapping[str, Any] = schema.get("properties") or {}
    for key in schema.get("required", ()):
        if key not in value:
            problems.append(f"{path}: missing required property {key!r}")
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            problems.extend(validate(item, properties[key], f"{path}.{key}"))
        elif extra is False:
            problems.append(f"{path}: unexpected property {key!r}")
        elif isinstance(extra, Mapping):
            problems.extend(validate(item, extra, f"{path}.{key}"))
    return problems


def _array_problems(value: list[Any], schema: Mapping[str, Any], path: str) -> list[str]:
    problems = []
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        problems.append(f"{path}: more than {schema['maxItems']} items")
    if "minItems" in schema and len(value) < schema["minItems"]:
        problems.append(f"{path}: fewer than {schema['minItems']} items")
    items = schema.get("items")
    if isinstance(items, Mapping):
        for index, item in enumerate(value):
            problems.extend(validate(item, items, f"{path}[{index}]"))
    return problems

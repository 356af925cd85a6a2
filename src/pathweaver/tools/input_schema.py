"""Tool input schemas: the one place JSON Schema validators are built.

A tool's ``inputSchema`` comes from a user (or from an MCP server) and the arguments checked
against it come from a model, so checking them may neither reach out nor run away:

* **Nothing is fetched.** References resolve in a ``referencing`` registry whose retrieval
  refuses every URI; a ``$ref`` or ``$dynamicRef`` that is not local to the schema (anything
  but ``#...``) is refused when a tool is saved and, for a schema stored before that rule or
  listed by an MCP server, when the tool is called (an error result; nothing is fetched).
* **Regular expressions run in linear time.** ``pattern``, ``patternProperties`` (and the
  ``additionalProperties`` that depends on them) run on RE2, which has no backtracking; a
  pattern RE2 cannot compile (lookaround, backreferences) is refused when the tool is saved.
* **The work is bounded.** A schema is at most :data:`MAX_SCHEMA_CHARS` characters of JSON
  and :data:`MAX_DEPTH` levels deep; one validation makes at most :data:`MAX_CHECKS` keyword
  checks (``$ref`` chains can expand a small schema exponentially); ``uniqueItems`` is linear.
* **Everything is JSON Schema 2020-12.** A ``$schema`` at the top is ignored; a nested one,
  or a nested ``$id``, is refused (``jsonschema`` would switch to a stock validator there,
  without the guards above). ``unevaluatedProperties`` cannot be combined with
  ``patternProperties`` (``jsonschema`` evaluates that pair with Python's backtracking
  ``re``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import jsonschema
import re2  # type: ignore[import-untyped]
import referencing
import referencing.exceptions
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from referencing.jsonschema import DRAFT202012

if TYPE_CHECKING:
    from referencing._core import Resolver

#: Characters of JSON a tool's input schema may take.
MAX_SCHEMA_CHARS = 65_536
#: How deeply objects and lists may nest in a schema.
MAX_DEPTH = 64
#: Keyword checks one validation may make (4 to 7 microseconds each: at most ~70 ms).
MAX_CHECKS = 10_000

_BASE = jsonschema.Draft202012Validator
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # refusals are reported to the caller, not to stderr
#: Keywords whose value is one subschema, a map of subschemas, or a list of them.
_ONE = frozenset(
    {"additionalProperties", "unevaluatedProperties", "items", "contains", "propertyNames", "not"}
    | {"if", "then", "else", "unevaluatedItems", "additionalItems"}
)
_MAP = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


class SchemaRefused(ValueError):
    """The schema cannot be used as a tool's input schema; the message says why and where."""


class TooManyChecks(ValueError):
    """Checking the arguments took more than :data:`MAX_CHECKS` keyword checks."""


#: Resolves ``$ref`` only inside the schema being checked (and the bundled meta-schemas): a
#: registry built without a ``retrieve`` function refuses every URI it does not hold
#: (``NoSuchResource``), where jsonschema's default one would fetch it with urllib.
REGISTRY: referencing.Registry[Any] = referencing.Registry()


# Regular expressions -----------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def regex(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (cached), or :class:`SchemaRefused` saying why not."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise SchemaRefused(
            f"the regular expression {pattern!r} cannot be used ({reason}); patterns run on RE2, "
            "which has no lookaround, backreferences or \\Z: rewrite it without them"
        ) from None


# The validator --------------------------------------------------------------------------

_checks_left: ContextVar[list[int] | None] = ContextVar("checks_left", default=None)


def _metered(check: Callable[..., Any]) -> Callable[..., Any]:
    def metered(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        left = _checks_left.get()
        if left is not None:
            left[0] -= 1
            if left[0] < 0:
                raise TooManyChecks(
                    f"checking the arguments took more than {MAX_CHECKS:,} steps; send fewer or smaller values"
                )
        return check(validator, value, instance, schema)

    return metered


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{_short(instance)} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        compiled = regex(pattern)
        for key, value in instance.items():
            if compiled.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, extra: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    patterns = [regex(pattern) for pattern in schema.get("patternProperties", {})]
    extras = [key for key in instance if key not in declared and not any(p.search(key) for p in patterns)]
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif extra is False and extras:
        listed = ", ".join(repr(key) for key in sorted(extras))
        if patterns:
            yield jsonschema.ValidationError(f"{listed} do not match any of the patterns allowed here")
        else:
            verb = "was" if len(extras) == 1 else "were"
            yield jsonschema.ValidationError(
                f"Additional properties are not allowed ({listed} {verb} unexpected)"
            )


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for item in instance:
        key = json.dumps(_json_value(item), sort_keys=True)
        if key in seen:
            yield jsonschema.ValidationError(f"{_short(instance)} has non-unique elements")
            return
        seen.add(key)


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _json_value(value: Any) -> Any:
    """``value`` with JSON's equality: ``1.0`` is ``1`` (``true`` stays apart from ``1``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    return value


_OVERRIDES: dict[str, Callable[..., Any]] = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "uniqueItems": _unique_items,
}
_KEYWORDS = {
    keyword: _metered(_OVERRIDES.get(keyword) or check)
    for keyword, check in _BASE.VALIDATORS.items()
    if check is not None
}
_Guarded: type[Validator] = jsonschema.validators.extend(_BASE, _KEYWORDS)  # type: ignore[no-untyped-call]


def validator(schema: Mapping[str, Any]) -> Validator:
    """The guarded validator for ``schema``, or :class:`SchemaRefused` (see :func:`check`).

    Checking a big schema takes a while (about 0.3 ms per subschema), so a schema that
    passed is remembered by its JSON text (the last 128).
    """
    _check_depth(schema)
    try:
        text = json.dumps(schema, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        raise SchemaRefused("must be JSON (objects, lists, strings, numbers, booleans and null)") from None
    return _checked(text)


@functools.lru_cache(maxsize=128)
def _checked(text: str) -> Validator:
    schema = json.loads(text)
    check(schema)
    return _Guarded(_top(schema), registry=REGISTRY)


def errors(schema: Mapping[str, Any], instance: Any) -> list[jsonschema.ValidationError]:
    """What is wrong with ``instance``, in path order: :class:`SchemaRefused` when the schema
    cannot be used, :class:`TooManyChecks` when checking would take too long."""
    checking = validator(schema)
    token = _checks_left.set([MAX_CHECKS])
    try:
        return sorted(checking.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    except referencing.exceptions.Unresolvable as exc:
        raise SchemaRefused(f"a $ref of the schema points at nothing ({exc})") from None
    except RecursionError:
        raise SchemaRefused("the schema refers to itself without end") from None
    finally:
        _checks_left.reset(token)


# Checking a schema ----------------------------------------------------------------------


def check(schema: Mapping[str, Any]) -> None:
    """:class:`SchemaRefused` unless ``schema`` is a valid JSON Schema (2020-12) that a tool
    may use (the rules in the module's docstring); the message names where the problem is.

    Cheap enough to run before every validation: a few walks, bounded by the size rules.
    """
    _check_depth(schema)
    try:
        size = len(json.dumps(schema, ensure_ascii=False))
    except (TypeError, ValueError):
        raise SchemaRefused("must be JSON (objects, lists, strings, numbers, booleans and null)") from None
    if size > MAX_SCHEMA_CHARS:
        raise SchemaRefused(f"is {size:,} characters of JSON; at most {MAX_SCHEMA_CHARS:,} are allowed")
    meta = _BASE(_BASE.META_SCHEMA, registry=REGISTRY, format_checker=_BASE.FORMAT_CHECKER)
    error = best_match(meta.iter_errors(schema))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        raise SchemaRefused(f"is not a valid JSON Schema{f' at {where}' if where else ''}: {error.message}")
    found = _rule_breaks(_top(schema))
    if found:
        raise SchemaRefused(found[0])


def _top(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema as it is checked: its ``$schema`` left out (every schema is 2020-12 here)."""
    return {key: value for key, value in schema.items() if key != "$schema"}


def _rule_breaks(top: dict[str, Any]) -> list[str]:
    """Each thing that keeps a (well-formed) schema from being used safely.

    Walks every subschema the validator can reach, local ``$ref`` targets included.
    """
    found: list[str] = []
    seen = {"patternProperties": False, "unevaluatedProperties": False}
    resolver = REGISTRY.resolver_with_root(DRAFT202012.create_resource(top))
    for where, subschema in _reachable(top, resolver, found):
        at = f" (at {where})" if where else ""
        for keyword in seen:
            seen[keyword] = seen[keyword] or keyword in subschema
        for keyword in ("$schema", "$id"):
            if where and keyword in subschema:
                found.append(
                    f"{keyword} is allowed only at the top of the schema{at}; keep shared parts in "
                    '$defs and refer to them as "#/$defs/name"'
                )
        named = subschema.get("patternProperties")
        for pattern in [subschema.get("pattern"), *(named if isinstance(named, Mapping) else ())]:
            if isinstance(pattern, str):
                try:
                    regex(pattern)
                except SchemaRefused as exc:
                    found.append(f"{exc}{at}")
    if all(seen.values()):
        found.append(
            "unevaluatedProperties cannot be combined with patternProperties in a tool's schema; "
            "use additionalProperties"
        )
    return found


def _reachable(
    top: Mapping[str, Any], resolver: Resolver[Any], found: list[str]
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every schema object the validator can reach from ``top``, once each, with its path
    (``properties/x``); a reference that is not local, or points at nothing, goes to ``found``."""
    stack: list[tuple[str, Any]] = [("", top)]
    visited: set[int] = set()
    while stack:
        where, node = stack.pop()
        if not isinstance(node, Mapping) or id(node) in visited:
            continue
        visited.add(id(node))
        yield where, node
        inner: list[tuple[str, Any]] = []
        for keyword, value in node.items():
            path = f"{where}/{keyword}" if where else keyword
            if keyword in _ONE:
                inner.append((path, value))
            elif keyword in _MAP and isinstance(value, Mapping):
                inner.extend((f"{path}/{name}", item) for name, item in value.items())
            elif keyword in _LIST | {"items"} and isinstance(value, list):
                inner.extend((f"{path}/{index}", item) for index, item in enumerate(value))
            elif keyword in ("$ref", "$dynamicRef") and isinstance(value, str):
                target = _target(keyword, value, resolver, found, f" (at {path})")
                if target is not None:
                    inner.append((value.removeprefix("#").strip("/"), target))
        stack.extend(reversed(inner))


def _target(keyword: str, reference: str, resolver: Resolver[Any], found: list[str], at: str) -> Any:
    if not reference.startswith("#"):
        found.append(
            f"{keyword} {reference!r} is not part of this schema, and schemas are never fetched{at}; "
            'copy what it refers to into $defs and refer to it as "#/$defs/name"'
        )
        return None
    try:
        return resolver.lookup(reference).contents
    except referencing.exceptions.Unresolvable:
        if keyword == "$dynamicRef":
            return None  # resolved against the dynamic scope at run time, inside this schema
        found.append(f"$ref {reference!r} points at nothing in this schema{at}; fix it or add the target")
        return None


def _check_depth(schema: Mapping[str, Any]) -> None:
    if _depth(schema) > MAX_DEPTH:
        raise SchemaRefused(f"nests more than {MAX_DEPTH} levels deep; flatten it, or use $defs and $ref")


def _depth(value: Any) -> int:
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend(
                    (item, depth + 1) for item in (node.values() if isinstance(node, Mapping) else node)
                )
    return deepest

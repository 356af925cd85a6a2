"""The agent config (pathors-api.md section 2.6), as typed data.

One agent per project. Field names on the wire are camelCase. ``firstMessage`` and
``language`` are Pathweaver extensions; ``model`` (which model serves the agent, see
:class:`ModelChoice`) is another.
"""

from __future__ import annotations

import difflib
import logging
import re
import typing
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from pathweaver.agent.parts import (
    AgentPlaceholders,
    BeforeStartConfig,
    EvaluationConfig,
    FreeObject,
    PostSessionWebhook,
    timezone_problem,
)
from pathweaver.errors import UserError

log = logging.getLogger("pathweaver.agent")

ExecutionMode = Literal["smart", "balance", "turbo"]
VariableType = Literal["string", "number", "email"]


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


#: A variable's name: a letter (of any script) or ``_``, then letters, digits, ``_`` or ``-``
#: (``customer_name``, ``customer-name``, ``客戶名稱``: Pathors is used in Taiwan).
VARIABLE_NAME = r"[^\W\d][\w-]*"
#: A ``{{name}}`` placeholder in a prompt: a variable's name (dots allowed too, as before).
#: One pattern for the engine that fills placeholders and the lint that checks them.
PLACEHOLDER = re.compile(r"\{\{\s*([^\W\d][\w.-]*)\s*\}\}")
_VARIABLE_NAME = re.compile(VARIABLE_NAME)


class VariableConfig(_Wire):
    key: str = Field(min_length=1, max_length=64)
    type: VariableType = "string"
    description: str = Field(default="", max_length=2000)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _VARIABLE_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a variable name: start with a letter or _, then use only letters, "
                "digits, _ and - (customer_name, customer-name, 客戶名稱)"
            )
        return value


class ModelChoice(_Wire):
    """Which model serves an agent or a node, instead of the server's default.

    ``target`` names an upstream configured by the operator in ``PATHWEAVER_LLM_TARGETS``
    (its base URL and key stay in the server's settings, never in the agent); ``name``
    overrides the model name sent to that upstream (or to the default upstream when no
    target is named). A node's choice wins over the agent's. Checked against the server's
    configuration when saved (a warning) and when used (an error naming the setting).
    """

    target: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str | None = Field(default=None, min_length=1, max_length=200)

    def describe(self) -> str:
        return "/".join(part for part in (self.target, self.name) if part) or "default"


def model_by_name(value: Any) -> Any:
    """``model`` as Pathors' older agent config gave it, a model name (``"gpt-4o"``), read
    as ``{"name": "gpt-4o"}``; an empty name is no choice. Anything else as it is."""
    if isinstance(value, str):
        return {"name": value} if value.strip() else None
    return value


class PromptModule(_Wire):
    name: str = Field(min_length=1, max_length=128)
    description: str = ""
    content: str = ""
    enabled: bool = True


class AgentConfig(_Wire):
    name: str = Field(default="Agent", min_length=1, max_length=128)
    type: Literal["monolithic", "skill"] = "monolithic"
    status: Literal["draft", "published"] = "draft"
    global_prompt: str | None = None
    execution_mode: ExecutionMode | None = None
    """``smart``, ``balance`` or ``turbo`` (see :mod:`pathweaver.engine.turn`); unset: ``smart``
    on the embedded model, ``balance`` on an HTTP upstream."""
    timezone: str | None = "UTC"
    memory_enabled: bool = False
    search_knowledge_base_enabled: bool = False
    prompt_modules: list[PromptModule] | None = None
    before_start_config: BeforeStartConfig | None = None
    post_session_webhook: PostSessionWebhook | None = None
    post_session_variable_keys: list[str] | None = None
    post_evaluation_config: EvaluationConfig | None = None
    placeholder_messages: AgentPlaceholders | None = None
    variable_configs: list[VariableConfig] | None = None
    voice_intelligence: FreeObject | None = None
    first_message: str | None = None
    language: str | None = None
    session_variables: list[str] | None = None
    """Names of the session variables callers pass at session creation (for the lint)."""
    model: ModelChoice | None = None
    """The model serving this agent (nodes may choose their own); unset: the server's default."""
    required_suite_id: str | None = None
    """A test suite that must have passed before ``status`` can become ``published``."""

    _model = field_validator("model", mode="before")(model_by_name)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        problem = None if value is None else timezone_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @property
    def mode(self) -> ExecutionMode:
        return self.execution_mode or "smart"

    def variable(self, key: str) -> VariableConfig | None:
        return next((v for v in self.variable_configs or () if v.key == key), None)


def parse_agent(data: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> AgentConfig:
    """An agent config from JSON about to be saved (``data`` over the stored ``base``, for a
    partial update), or :class:`UserError` (400) naming each field that does not fit and
    what to do (``details.errors``: ``{field, message}``).

    A field of ``data`` the config does not know is refused, not dropped (the agent file's
    rule too): it would do nothing, and a misspelt ``globalPromt`` would look saved. The
    typed parts that keep fields Pathors may add (``postSessionWebhook`` and the others)
    keep them.
    """
    errors = [
        {"field": path, "message": f"is not a known field of the agent{hint}; rename or remove it"}
        for path, hint in unknown_fields(AgentConfig, data)
    ]
    try:
        config = AgentConfig.model_validate({**(base or {}), **data})
    except ValidationError as exc:
        errors += [{"field": e["field"], "message": e["message"]} for e in field_errors(exc.errors())]
    if errors:
        first = errors[0]
        raise UserError(f"{first['field']}: {first['message']}", details={"errors": errors})
    return config


def unknown_fields(
    model: type[BaseModel], raw: Mapping[str, Any], prefix: str = ""
) -> Iterator[tuple[str, str]]:
    """Keys of ``raw`` that ``model`` would silently drop (its own, and those of the objects
    and lists of objects it holds that drop theirs), each with a "did you mean" hint."""
    aliases = {info.alias or name: name for name, info in model.model_fields.items()}
    names = {**aliases, **{name: name for name in model.model_fields}}
    for key, value in raw.items():
        if key not in names:
            close = difflib.get_close_matches(key, list(aliases), n=1, cutoff=0.7)
            yield f"{prefix}{key}", f' (did you mean "{close[0]}"?)' if close else ""
            continue
        inner = _dropping_model(model.model_fields[names[key]].annotation)
        if inner is None:
            continue
        if isinstance(value, Mapping):
            yield from unknown_fields(inner, value, f"{prefix}{key}.")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    yield from unknown_fields(inner, item, f"{prefix}{key}[{index}].")


def _dropping_model(annotation: Any) -> type[BaseModel] | None:
    """``M`` for annotations like ``M | None`` or ``list[M] | None``, when ``M`` drops the
    fields it does not know (a model that keeps them, ``extra="allow"``, is not one)."""
    for arg in typing.get_args(annotation) or (annotation,):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return None if arg.model_config.get("extra") == "allow" else arg
        if typing.get_args(arg) and (found := _dropping_model(arg)) is not None:
            return found
    return None


# Reading what was stored -----------------------------------------------------------------


def load_stored(document: Any, where: str = "agent") -> tuple[AgentConfig, list[str]]:
    """An agent config as stored, never an error: a field that does not validate (stored
    before its rule existed) is left out, so its default applies, and reported (logged, and
    returned as ``field: problem`` lines); a webhook header that HTTP cannot carry is left
    out alone. ``pathweaver doctor`` lists such rows.
    """
    config, problems = read_stored(document)
    for problem in problems:
        log.warning("%s: stored %s; it is ignored until it is fixed", where, problem)
    return config, problems


def read_stored(document: Any) -> tuple[AgentConfig, list[str]]:
    """:func:`load_stored` without the log lines."""
    data = dict(document) if isinstance(document, Mapping) else {}
    problems: list[str] = [] if isinstance(document, Mapping) else ["config: is not an object"]
    for _ in range(_MAX_PASSES):
        try:
            return AgentConfig.model_validate(data), problems
        except ValidationError as exc:
            if not _drop_invalid(data, exc.errors(), problems):
                break
    problems.append("config: could not be read; the defaults apply")
    return AgentConfig(), problems


#: Validation passes over one stored config at most (each leaves out what it found).
_MAX_PASSES = 4


def _drop_invalid(data: dict[str, Any], errors: list[ErrorDetails], problems: list[str]) -> bool:
    """Leave out what ``errors`` point at (all at once: their indexes are this pass's);
    False when nothing could be left out."""
    fields: set[str] = set()
    headers: set[int] = set()
    for item in field_errors(errors):
        loc = item["loc"]
        if not loc or loc[0] not in data:
            continue
        if (
            loc[0] == "postSessionWebhook"
            and len(loc) >= 3
            and loc[1] == "headers"
            and isinstance(loc[2], int)
        ):
            headers.add(loc[2])
        else:
            fields.add(str(loc[0]))
        problems.append(f"{item['field']}: {item['message']}")
    hook = data.get("postSessionWebhook")
    if headers and "postSessionWebhook" not in fields and isinstance(hook, dict):
        kept = [h for index, h in enumerate(hook.get("headers") or []) if index not in headers]
        data["postSessionWebhook"] = {**hook, "headers": kept}
    for name in fields:
        del data[name]
    return bool(fields or headers)


# Errors for people ---------------------------------------------------------------------

_MESSAGES = {
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "int_type": "must be a number",
    "int_parsing": "must be a number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "missing": "is required",
    "extra_forbidden": "is not a known field; remove it",
}


def field_errors(errors: list[ErrorDetails]) -> list[dict[str, Any]]:
    """Validation errors as ``{"field", "message", "loc"}``, one per field, in order.

    ``field`` is a path as people write it (``postSessionWebhook.headers[0].key``); the
    alternatives of a union become one message (``must be a list or an object``).
    """
    merged: dict[tuple[str | int, ...], list[str]] = {}
    for error in errors:
        loc = tuple(part for part in error["loc"] if not _is_union_tag(part))
        message = _message(error)
        said = merged.setdefault(loc, [])
        if message not in said:
            said.append(message)
    # A union's alternatives fail at different depths: the one that got further says more.
    deeper = {loc[:n] for loc in merged for n in range(len(loc))}
    out = []
    for loc, messages in merged.items():
        if loc in deeper:
            continue
        if "must be a finite number" in messages:
            messages = [m for m in messages if m != "must be a number"]
        first, *others = messages
        rest = [m.removeprefix("must be ") for m in others]
        out.append({"field": _path(loc), "message": " or ".join([first, *rest]), "loc": loc})
    return out


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "literal_error":
        return f"must be one of {context.get('expected', '')}"
    if kind == "string_too_long":
        return f"has more than {context.get('max_length')} characters; shorten it"
    if kind == "string_too_short":
        return (
            "is empty"
            if context.get("min_length") == 1
            else f"needs at least {context.get('min_length')} characters"
        )
    if kind == "too_long":
        return f"has more than {context.get('max_length')} items; keep at most that many"
    if kind == "too_short":
        return f"needs at least {context.get('min_length')} item(s)"
    return str(error["msg"]).removeprefix("Value error, ")


_SIMPLE_TAGS = frozenset({"int", "float", "str", "bool", "list", "dict"})


def _is_union_tag(part: str | int) -> bool:
    """A union member's name in an error location (``list[str]``), not a field's."""
    if not isinstance(part, str):
        return False
    return part in _SIMPLE_TAGS or "[" in part or part.startswith(("constrained-", "function-"))


def _path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"

"""Tool configs of a project (pathors-api.md section 2.7), as typed data.

The stored and wire shape is Pathors': ``{id, type, name, description, metadata,
inputSchema, placeholderMessages: {messages, defaultLanguage}}``, camelCase. ``type``
selects the kind and the shape of ``metadata``:

* ``restful``: ``url``, ``method`` (GET, POST, PUT, PATCH, DELETE), ``headers``, ``body``
  (a template: a string, or a JSON object/array whose strings may hold placeholders);
* ``mcp``: ``serverUrl`` (an MCP server over streamable HTTP) and ``headers``.

``name`` is 1 to 64 characters of text, as Pathors takes it ("Look up customer"). The model
calls the tool by :attr:`function_name`, the name with every character a function name
cannot hold (anything but ASCII letters, digits, ``_`` and ``-``) made ``_``, which may not
be a built-in's. ``inputSchema`` is a JSON Schema
object (the function's parameters); it is checked when saved by ``tools/input_schema.py``
(valid, local references only, patterns RE2 can run, bounded size).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from pathweaver.errors import UserError
from pathweaver.tools import input_schema

ToolType = Literal["restful", "mcp"]
TOOL_TYPES: tuple[str, ...] = ("restful", "mcp")
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
_NOT_IN_FUNCTION_NAMES = re.compile(r"[^A-Za-z0-9_-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Names the model already knows for something else (built-ins and the engine's own tool).
RESERVED_NAMES = frozenset({"end_call", "transfer_call", "transfer_to_human", "pathway_transition"})
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def _check_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if "\r" in value or "\n" in value:
            raise ValueError(f"the value of header {name!r} has a line break")
    return headers


class RestfulMetadata(_Wire):
    """An HTTP call. ``{{name}}`` placeholders in url, headers and body take the model's
    arguments, then the session's variables; values are inserted as data."""

    url: str = Field(min_length=1, max_length=2048, description="http(s) URL; may hold {{placeholders}}")
    method: HttpMethod = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | dict[str, Any] | list[Any] | None = Field(
        default=None, description="Request body template; none sends the unused arguments as JSON"
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_headers(value)


class McpMetadata(_Wire):
    """An external MCP server, reached over streamable HTTP."""

    server_url: str = Field(
        min_length=1, max_length=2048, description="The MCP endpoint, e.g. https://host/mcp"
    )
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_headers(value)


class PlaceholderMessages(_Wire):
    """What the caller hears while a tool runs: phrases per language, or one list."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True)
    messages: list[str] | dict[str, list[str]] = Field(default_factory=list)
    default_language: str | None = None

    def for_language(self, language: str | None = None) -> list[str]:
        if isinstance(self.messages, list):
            return list(self.messages)
        for key in (language, self.default_language):
            if key and key in self.messages:
                return list(self.messages[key])
        return next(iter(self.messages.values()), [])


class _ToolBase(_Wire):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=4000)
    input_schema: dict[str, Any] = Field(default_factory=lambda: dict(EMPTY_SCHEMA))
    placeholder_messages: PlaceholderMessages | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank; name the tool for what it does (lookup_customer)")
        if _CONTROL.search(value):
            raise ValueError("has a control character (a line break, a tab); use plain text")
        called = function_name(value)
        if called in RESERVED_NAMES:
            as_called = "" if called == value else f" (the model would call it {called!r})"
            raise ValueError(f"{value!r}{as_called} is the name of a built-in tool; choose another name")
        return value

    @property
    def function_name(self) -> str:
        """The name the model calls this tool by (see the module's docstring)."""
        return function_name(self.name) or f"tool_{self.id[-8:]}"

    @field_validator("input_schema")
    @classmethod
    def _schema(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if (info.context or {}).get("stored"):
            return value  # checked again before every call (input_schema.errors)
        if value.get("type", "object") != "object":
            raise ValueError('must be a JSON Schema with "type": "object" (the tool\'s named arguments)')
        input_schema.check(value)  # a SchemaRefused is a ValueError: pydantic names the field
        return value


def function_name(name: str) -> str:
    """``name`` as a function name a model API takes: ``Look up customer`` is
    ``Look_up_customer``; empty when ``name`` has no ASCII letter or digit."""
    called = _NOT_IN_FUNCTION_NAMES.sub("_", name.strip()).strip("_")
    return called if re.search(r"[A-Za-z0-9]", called) else ""


class RestfulTool(_ToolBase):
    type: Literal["restful"] = "restful"
    metadata: RestfulMetadata


class McpTool(_ToolBase):
    type: Literal["mcp"] = "mcp"
    metadata: McpMetadata


ToolConfig = Annotated[RestfulTool | McpTool, Field(discriminator="type")]
_ADAPTER: TypeAdapter[RestfulTool | McpTool] = TypeAdapter(ToolConfig)


def parse_tool(data: Any) -> RestfulTool | McpTool:
    """A tool config from its JSON, or :class:`UserError` naming the first bad field."""
    if isinstance(data, dict) and data.get("type") not in TOOL_TYPES:
        kind = data.get("type")
        raise UserError(
            f"type: {kind!r} is not a supported tool type; use one of {', '.join(TOOL_TYPES)}"
            if kind
            else "type is required",
            details={"errors": [{"field": "type", "message": "unsupported tool type"}]},
        )
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise field_error(exc) from None


def load_tool(stored: Any) -> RestfulTool | McpTool:
    """A tool config as stored: its ``inputSchema`` is not held to the rules of the day (a
    schema saved before a rule existed still loads, and is refused when the tool is called)."""
    try:
        return _ADAPTER.validate_python(stored, context={"stored": True})
    except ValidationError as exc:
        raise field_error(exc) from None


def field_error(exc: ValidationError) -> UserError:
    """A UserError for a validation error, whose message starts with the field's path."""
    errors = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"] if p not in ("restful", "mcp")]
        where = ".".join(loc) or "body"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "is required"
        elif error["type"] == "extra_forbidden":
            message = "is not a known field"
        errors.append({"field": where, "message": message})
    first = errors[0]
    return UserError(f"{first['field']}: {first['message']}", details={"errors": errors})


def type_catalogue() -> list[dict[str, Any]]:
    """The available types and the JSON Schema of each one's ``metadata`` (GET /tools/types)."""
    return [
        {
            "type": "restful",
            "name": "REST API",
            "description": "Calls an HTTP endpoint with the model's arguments and returns its answer.",
            "metadataSchema": RestfulMetadata.model_json_schema(by_alias=True),
        },
        {
            "type": "mcp",
            "name": "MCP server",
            "description": "Offers the tools of an external MCP server (streamable HTTP).",
            "metadataSchema": McpMetadata.model_json_schema(by_alias=True),
        },
    ]

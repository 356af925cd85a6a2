"""The agent config's objects, typed as the runtime reads them (pathors-api.md 2.6, 2.11).

``postSessionWebhook``, ``postEvaluationConfig``, ``beforeStartConfig`` and
``placeholderMessages`` are objects a user writes by hand; each is checked here when it is
saved, in the shape Pathors documents, so that the end of a session never meets a value it
cannot use. Values are never coerced: ``"enabled": "no"`` or ``"enumOptions": "good"`` is
refused with a message, not read as true or as the options g, o, o, d.

Fields Pathors does not document are kept as sent (Pathors adds fields over time); a
field that was not sent is not written back (a GET answers what was saved).
"""

from __future__ import annotations

import difflib
import functools
import re
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from pathweaver import headers as http_headers
from pathweaver import jsonvalues

#: Events a ``postSessionWebhook`` may ask for: ours (``lifecycle/payloads.py``) and
#: ``recording.ready``, which Pathors documents for calls (a text session never sends it).
WEBHOOK_EVENTS: tuple[str, ...] = (
    "session.started",
    "session.ended",
    "call.ended",
    "session.finalized",
    "recording.ready",
)
DEFAULT_EVENTS: tuple[str, ...] = ("session.ended",)
MAX_HEADERS = 50
MAX_OPTIONS = 50

Text = Annotated[StrictStr, Field(max_length=1000)]


def _bounded(value: dict[str, Any]) -> dict[str, Any]:
    found = jsonvalues.problem(value)
    if found is not None:
        raise ValueError(found.describe("the value"))
    return value


#: A free JSON object, as storable as ``pathweaver.jsonvalues`` requires (files are checked
#: here; request bodies are checked whole before they reach a model).
FreeObject = Annotated[dict[str, Any], AfterValidator(_bounded)]
Number = StrictInt | Annotated[StrictFloat, Field(allow_inf_nan=False)]


class _Part(BaseModel):
    """An object of the agent config: camelCase on the wire, unknown fields kept, and only
    the fields that were sent written back."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    @model_serializer(mode="wrap")
    def _as_sent(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            fields = type(self).model_fields
            for name in fields.keys() - self.model_fields_set:
                data.pop(name, None)
                data.pop(fields[name].alias or name, None)
        return data


def _must_be_list(value: Any, example: str) -> Any:
    if value is not None and not isinstance(value, list):
        raise ValueError(f"must be a list, e.g. {example}; it is {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    match value:
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case dict():
            return "an object"
        case list():
            return "a list"
    return "null"


# timezone ------------------------------------------------------------------------------

_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")


@functools.cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not a time zone of the tz database, or None."""
    if len(name) <= 64 and _ZONE_NAME.fullmatch(name) and name in _zone_set():
        return None
    shown = repr(name if len(name) <= 60 else name[:60] + "...")
    close = difflib.get_close_matches(name[:64], _zones(), n=3, cutoff=0.6) if len(name) <= 64 else []
    exact = [zone for zone in _zones() if zone.lower() == name.lower()]
    hint = f"; did you mean {', '.join(repr(z) for z in exact or close)}?" if exact or close else ""
    return (
        f"{shown} is not a time zone of the tz database; use a name such as 'Europe/Paris', "
        f"'America/New_York' or 'UTC'{hint}"
    )


@functools.cache
def _zone_set() -> frozenset[str]:
    return frozenset(_zones())


# postSessionWebhook --------------------------------------------------------------------


class WebhookHeader(_Part):
    """One header sent with every delivery: ``{"key": "X-Team", "value": "ops"}``."""

    key: StrictStr
    value: StrictStr

    @field_validator("key")
    @classmethod
    def _name(cls, key: str) -> str:
        problem = http_headers.name_problem(key)
        if problem is not None:
            raise ValueError(problem)
        return key

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        problem = http_headers.value_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class PostSessionWebhook(_Part):
    """Where the end-of-session events go (pathors-api.md 2.11)."""

    url: StrictStr = Field(min_length=1, max_length=2048)
    headers: list[WebhookHeader] = Field(default_factory=list, max_length=MAX_HEADERS)
    events: list[StrictStr] = Field(default_factory=lambda: list(DEFAULT_EVENTS))

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url[:100]!r} is not an http:// or https:// URL with a host")
        return url

    @field_validator("headers", mode="before")
    @classmethod
    def _header_list(cls, value: Any) -> Any:
        return _must_be_list(value, '[{"key": "X-Team", "value": "ops"}]')

    @field_validator("headers")
    @classmethod
    def _distinct(cls, headers: list[WebhookHeader]) -> list[WebhookHeader]:
        seen: dict[str, int] = {}
        for index, header in enumerate(headers):
            first = seen.setdefault(header.key.lower(), index)
            if first != index:
                raise ValueError(f"headers[{index}] sets {header.key} again (headers[{first}]); keep one")
        return headers

    @field_validator("events", mode="before")
    @classmethod
    def _event_list(cls, value: Any) -> Any:
        _must_be_list(value, '["session.ended", "session.finalized"]')
        if value == []:
            raise ValueError(
                'is empty; list the events to send (left out, it is ["session.ended"]), '
                "or set postSessionWebhook to null to send none"
            )
        for index, event in enumerate(value or ()):
            if event not in WEBHOOK_EVENTS:
                shown = repr(event) if isinstance(event, str) else _kind(event)
                raise ValueError(f"events[{index}] is {shown}, not an event; use {', '.join(WEBHOOK_EVENTS)}")
        return list(dict.fromkeys(value)) if value is not None else value

    def header_map(self) -> dict[str, str]:
        return {header.key: header.value for header in self.headers}


# postEvaluationConfig ------------------------------------------------------------------


class NumberRange(_Part):
    """The bounds of a numeric grade; either may be left out."""

    model_config = ConfigDict(extra="forbid")
    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _ordered(self) -> NumberRange:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max}); swap them")
        return self


class EvaluationConfig(_Part):
    """How the model grades a finished session: into one of ``enumOptions``, or else a
    number within ``numberConfig``."""

    enabled: StrictBool = True
    prompt: StrictStr | None = Field(default=None, max_length=20_000)
    enum_options: list[Annotated[StrictStr, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=MAX_OPTIONS
    )
    number_config: NumberRange | None = None

    @field_validator("enum_options", mode="before")
    @classmethod
    def _option_list(cls, value: Any) -> Any:
        return _must_be_list(value, '["good", "bad"]')

    @field_validator("number_config", mode="before")
    @classmethod
    def _range(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise ValueError(f'must be an object such as {{"min": 1, "max": 5}}; it is {_kind(value)}')
        return value

    @property
    def active(self) -> bool:
        """Enabled, and not an empty object (which configures nothing)."""
        return self.enabled and bool(self.model_fields_set)

    @property
    def options(self) -> list[str]:
        return list(dict.fromkeys(self.enum_options or ()))


# beforeStartConfig ---------------------------------------------------------------------


class ToolTemplate(_Part):
    """A tool to run before the first turn, with fixed parameters."""

    tool_name: StrictStr | None = Field(default=None, max_length=64)
    tool_id: StrictStr | None = Field(default=None, max_length=64)
    parameters: FreeObject = Field(default_factory=dict)


class BeforeStartConfig(_Part):
    """What runs before a session's first turn (:mod:`pathweaver.engine.before_start`)."""

    enabled: StrictBool = False
    mode: StrictStr | None = Field(default=None, max_length=64)
    tool_templates: list[ToolTemplate] = Field(default_factory=list, max_length=20)

    @field_validator("tool_templates", mode="before")
    @classmethod
    def _template_list(cls, value: Any) -> Any:
        return _must_be_list(value, '[{"toolId": "...", "parameters": {}}]')


# placeholderMessages -------------------------------------------------------------------

Phrases = Annotated[list[Text], Field(max_length=50)]


class AgentPlaceholders(_Part):
    """Filler lines while the agent waits: ``{"messages": {"en": [...]}, "defaultLanguage":
    "en"}`` (pathors-api.md 2.6), one list for every language, or ``{"en": [...]}``."""

    __pydantic_extra__: dict[str, Phrases | Text] = Field(init=False)
    messages: Phrases | dict[str, Phrases | Text] | None = Field(default=None)
    default_language: StrictStr | None = Field(default=None, max_length=32)

    @field_validator("messages")
    @classmethod
    def _languages(cls, value: Any) -> Any:
        if isinstance(value, dict) and len(value) > MAX_OPTIONS:
            raise ValueError(f"has {len(value)} languages; at most {MAX_OPTIONS}")
        return value

    def for_language(self, language: str | None = None) -> list[str]:
        """The filler lines for ``language``, else the default language's, else the first
        language's (lines written without languages are for every language)."""
        by_language: dict[str, Any]
        if isinstance(self.messages, list):
            return list(self.messages)
        by_language = (
            dict(self.messages) if isinstance(self.messages, dict) else dict(self.__pydantic_extra__ or {})
        )
        for key in (language, self.default_language, *by_language):
            if key and key in by_language:
                found = by_language[key]
                return [found] if isinstance(found, str) else list(found)
        return []

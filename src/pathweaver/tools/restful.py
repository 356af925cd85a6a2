"""The ``restful`` tool: fill the request templates, call through the outbound client.

Order of events for one call, each step able to end it with an error result:

1. the model's arguments are parsed and validated against ``inputSchema``; arguments the
   schema does not declare are refused (unless the schema itself sets
   ``additionalProperties``). Nothing is sent for a refused call;
2. ``{{name}}`` placeholders are filled from the arguments, then the session variables
   (``{{a.b}}`` reads inside an object). Values are data: percent-encoded in the URL,
   JSON-encoded in a JSON body (bare ``{{n}}`` becomes the JSON value, inside a string it
   becomes escaped string text), plain text elsewhere; a value is never read as a template.
   A placeholder with no value is an error, not an empty string;
3. arguments no placeholder used go as query parameters (GET, DELETE) or, when there is no
   body template, as a JSON object body (POST, PUT, PATCH);
4. the request goes through :class:`~pathweaver.tools.outbound.OutboundClient` (SSRF
   checks, timeouts, size cap, no redirects);
5. a 2xx answer comes back delimited and capped; another status, a timeout, a refused
   destination, invalid JSON under a JSON content type or binary content is an error
   result that says what happened.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from pathweaver.errors import OutboundError
from pathweaver.tools import input_schema
from pathweaver.tools.config import RestfulTool
from pathweaver.tools.outbound import OutboundClient, OutboundResponse
from pathweaver.tools.result import DEFAULT_MAX_RESULT_CHARS, ToolResult, delimit, failure

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
_BODY_METHODS = ("POST", "PUT", "PATCH")
_MISSING = object()


class TemplateError(ValueError):
    """A placeholder has no value (or an argument cannot be used where it was placed)."""


def parse_arguments(raw: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The model's JSON arguments, validated; ValueError with a message for the model
    (:class:`~pathweaver.tools.input_schema.SchemaRefused` when the schema itself cannot be
    used: nothing it names is fetched, and no argument is accepted)."""
    try:
        arguments = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"the arguments are not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(arguments, dict):
        raise ValueError("the arguments must be a JSON object of named values")
    strict = dict(schema)
    strict.setdefault("type", "object")
    strict.setdefault("additionalProperties", False)
    problems = input_schema.errors(strict, arguments)
    if problems:
        messages = []
        for problem in problems[:5]:
            where = "/".join(str(p) for p in problem.absolute_path)
            messages.append(f"{where}: {problem.message}" if where else problem.message)
        raise ValueError("the arguments do not match the tool's input schema: " + "; ".join(messages))
    return arguments


def arguments_failure(call_id: str, name: str, exc: ValueError, record: dict[str, Any]) -> ToolResult:
    """The error result for arguments that were refused, or a schema that cannot be used."""
    if isinstance(exc, input_schema.SchemaRefused):
        message = f"The tool's input schema cannot be used ({exc}). Nothing was sent; the tool must be fixed."
        return failure(call_id, name, message, {**record, "sent": False, "schemaRefused": True})
    message = f"{exc}. Nothing was sent; correct the arguments and call again."
    return failure(call_id, name, message, {**record, "sent": False})


@dataclass
class Values:
    """Where placeholder values come from, and which arguments were used."""

    arguments: Mapping[str, Any]
    variables: Mapping[str, Any]
    used: set[str] = field(default_factory=set)

    def get(self, key: str) -> Any:
        for source, is_arguments in ((self.arguments, True), (self.variables, False)):
            value = _lookup(source, key)
            if value is not _MISSING and value is not None:
                if is_arguments:
                    self.used.add(key.split(".", 1)[0])
                return value
        raise TemplateError(
            f"the template needs {{{{{key}}}}}, which is neither an argument nor a session variable"
        )


def _lookup(source: Mapping[str, Any], key: str) -> Any:
    if key in source:
        return source[key]
    value: Any = source
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def fill_text(template: str, values: Values) -> str:
    return PLACEHOLDER.sub(lambda m: _text(values.get(m.group(1))), template)


def fill_url(template: str, values: Values) -> str:
    return PLACEHOLDER.sub(lambda m: quote(_text(values.get(m.group(1))), safe=""), template)


def fill_json_value(template: Any, values: Values) -> Any:
    """A JSON template: ``"{{x}}"`` alone becomes the value itself, other strings are filled."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template.strip())
        return values.get(whole.group(1)) if whole else fill_text(template, values)
    if isinstance(template, list):
        return [fill_json_value(item, values) for item in template]
    if isinstance(template, dict):
        return {fill_text(k, values): fill_json_value(v, values) for k, v in template.items()}
    return template


def fill_json_text(template: str, values: Values) -> str:
    """A JSON body written as text: each placeholder is encoded for where it stands.

    Inside a JSON string it becomes escaped string content; elsewhere it becomes a JSON
    value. So ``{"q": "{{q}}", "n": {{n}}}`` stays valid JSON whatever the values hold.
    """
    out: list[str] = []
    in_string = False
    escaped = False
    index = 0
    while index < len(template):
        match = PLACEHOLDER.match(template, index)
        if match:
            value = values.get(match.group(1))
            out.append(
                json.dumps(_text(value), ensure_ascii=False)[1:-1]
                if in_string
                else json.dumps(value, ensure_ascii=False)
            )
            index = match.end()
            continue
        char = template[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        out.append(char)
        index += 1
    return "".join(out)


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None
    params: dict[str, str]


def prepare(tool: RestfulTool, arguments: Mapping[str, Any], variables: Mapping[str, Any]) -> PreparedRequest:
    """The HTTP request for a call (TemplateError when a placeholder has no value)."""
    meta = tool.metadata
    values = Values(arguments, variables)
    url = fill_url(meta.url, values)
    headers = {name: fill_text(value, values) for name, value in meta.headers.items()}
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise TemplateError(f"the value for header {name!r} has a line break")
    content: bytes | None = None
    if isinstance(meta.body, dict | list):
        content = json.dumps(fill_json_value(meta.body, values), ensure_ascii=False).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(meta.body, str) and meta.body:
        looks_json = meta.body.lstrip()[:1] in ("{", "[") or "json" in _content_type(headers)
        text = fill_json_text(meta.body, values) if looks_json else fill_text(meta.body, values)
        content = text.encode()
        if looks_json:
            headers.setdefault("Content-Type", "application/json")
    unused = {k: v for k, v in arguments.items() if k not in values.used}
    params: dict[str, str] = {}
    if meta.method in _BODY_METHODS and meta.body is None:
        content = json.dumps(unused, ensure_ascii=False).encode()
        headers.setdefault("Content-Type", "application/json")
    elif meta.method not in _BODY_METHODS:
        params = {k: _text(v) for k, v in unused.items()}
    return PreparedRequest(meta.method, url, headers, content, params)


def _content_type(headers: Mapping[str, str]) -> str:
    return next((v.lower() for k, v in headers.items() if k.lower() == "content-type"), "")


def _trace_url(url: str) -> str:
    """The URL without its query string (which may carry keys)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


async def run_restful(
    tool: RestfulTool,
    call_id: str,
    raw_arguments: str,
    variables: Mapping[str, Any],
    client: OutboundClient,
    *,
    max_chars: int = DEFAULT_MAX_RESULT_CHARS,
) -> ToolResult:
    """Run one call of a ``restful`` tool. Never raises for the tool's or the model's faults."""
    record: dict[str, Any] = {
        "toolId": tool.id,
        "type": "restful",
        "name": tool.name,
        "method": tool.metadata.method,
    }
    try:
        # Off the event loop: a check is bounded (input_schema.MAX_CHECKS), but not free.
        arguments = await asyncio.to_thread(parse_arguments, raw_arguments, tool.input_schema)
    except ValueError as exc:
        return arguments_failure(call_id, tool.function_name, exc, record)
    record["arguments"] = arguments
    try:
        request = prepare(tool, arguments, variables)
    except TemplateError as exc:
        return failure(call_id, tool.function_name, f"{exc}. Nothing was sent.", {**record, "sent": False})
    record.update(
        url=_trace_url(request.url), headerNames=sorted(request.headers), queryKeys=sorted(request.params)
    )
    began = time.perf_counter()
    try:
        response = await client.request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.content,
            params=request.params or None,
        )
    except OutboundError as exc:
        record["latencyMs"] = round((time.perf_counter() - began) * 1000, 2)
        return failure(
            call_id,
            tool.function_name,
            f"The call failed: {exc.message}",
            {**record, "sent": exc.code != "destination_refused"},
        )
    record.update(
        sent=True,
        httpStatus=response.status,
        latencyMs=round(response.elapsed_ms, 2),
        bytes=len(response.body),
        truncated=response.truncated,
        address=response.address,
    )
    return _result(tool.function_name, call_id, response, record, max_chars)


def _result(
    name: str, call_id: str, response: OutboundResponse, record: dict[str, Any], max_chars: int
) -> ToolResult:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if 300 <= response.status < 400:
        location = response.headers.get("location", "(no Location)")
        return failure(
            call_id,
            name,
            f"The service answered HTTP {response.status}, a redirect to {location}, which is not followed.",
            record,
        )
    if _is_binary(content_type, response.body):
        return failure(
            call_id,
            name,
            f"The service answered {content_type or 'binary content'} ({len(response.body)} bytes), which cannot be shown.",
            record,
        )
    text = response.text()
    if content_type.endswith("json") or content_type.endswith("+json"):
        if response.truncated:
            text += "\n[the answer was longer than the size limit and was cut]"
        else:
            try:
                text = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
            except json.JSONDecodeError:
                return failure(
                    call_id,
                    name,
                    f"The service answered invalid JSON (HTTP {response.status}): {text[:200]!r}",
                    record,
                )
    if not 200 <= response.status < 300:
        snippet = delimit(name, text, status="error", max_chars=min(max_chars, 1000))
        return ToolResult(
            call_id,
            name,
            f"The service answered HTTP {response.status}.\n{snippet}",
            True,
            {**record, "status": "error", "error": f"HTTP {response.status}"},
        )
    return ToolResult(
        call_id,
        name,
        delimit(name, text, max_chars=max_chars),
        False,
        {**record, "status": "ok"},
        output=text,
    )


def _is_binary(content_type: str, body: bytes) -> bool:
    if content_type.startswith(("image/", "audio/", "video/", "font/")) or content_type in (
        "application/octet-stream",
        "application/pdf",
        "application/zip",
    ):
        return True
    return b"\x00" in body[:4096]

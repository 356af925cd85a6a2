"""The one port every server-side tool call passes through: offer, then run.

The engine asks :meth:`ToolPort.offer` for what a node offers (its tool configs and
built-ins) and gets an :class:`Offer`: the specs to give the model and the routing behind
each name. It hands each of the model's tool calls to :meth:`ToolPort.run` with that offer
and the session's variables, and gets a :class:`~pathweaver.tools.result.ToolResult`:
content for a ``tool`` message, ``is_error``, a JSON record for the trace, and for a
built-in a :class:`~pathweaver.tools.result.SessionAction`. ``run`` never raises for a
tool's failure: a call of a name the node does not offer, invalid arguments, a refused
destination, a timeout, an HTTP error, garbage, an MCP error all come back as results with
``is_error`` (reliability.md L3: names from the model are checked against the offer).

Because calls go through this one interface, they can be recorded and replayed by wrapping
it (a fake for engine tests is :class:`pathweaver.tools.scripted.ScriptedTools`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pathweaver.errors import OutboundError, ToolError
from pathweaver.llm.base import ToolCall, ToolSpec
from pathweaver.tools.builtins import builtin_spec, is_builtin, run_builtin
from pathweaver.tools.config import McpTool, PlaceholderMessages, RestfulTool
from pathweaver.tools.mcp import McpConnector, RemoteTool
from pathweaver.tools.outbound import OutboundClient
from pathweaver.tools.restful import arguments_failure, parse_arguments, run_restful
from pathweaver.tools.result import DEFAULT_MAX_RESULT_CHARS, ToolResult, delimit, failure

log = logging.getLogger("pathweaver.tools")

_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class OfferedTool:
    """One name the model may call, and what runs behind it."""

    spec: ToolSpec
    kind: Literal["builtin", "restful", "mcp"]
    config: RestfulTool | McpTool | None = None
    remote_name: str | None = None

    def placeholder_messages(self) -> PlaceholderMessages | None:
        """What to say while this tool runs (the config's ``placeholderMessages``)."""
        return self.config.placeholder_messages if self.config is not None else None


@dataclass(frozen=True, slots=True)
class Offer:
    """The tools offered at one step: the model may call these names and no others."""

    tools: tuple[OfferedTool, ...] = ()
    problems: tuple[dict[str, str], ...] = ()
    """Configs that could not be offered (an MCP server that did not list its tools)."""

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(tool.spec for tool in self.tools)

    def get(self, name: str) -> OfferedTool | None:
        return next((tool for tool in self.tools if tool.spec.name == name), None)


class ToolPort(Protocol):
    async def offer(
        self,
        configs: Sequence[RestfulTool | McpTool],
        *,
        builtins: Sequence[str] = (),
        descriptions: Mapping[str, str] | None = None,
    ) -> Offer:
        """What to offer for ``configs`` and the named built-ins (``descriptions`` overrides
        a built-in's text, e.g. the hand-off description). Never raises for a server that
        cannot be listed: it is left out and named in ``Offer.problems``."""
        ...

    async def run(self, offer: Offer, call: ToolCall, variables: Mapping[str, Any]) -> ToolResult:
        """Run one call from the model. Never raises for the tool's or the model's faults."""
        ...


class ToolRunner:
    """The real :class:`ToolPort`: REST and MCP through the outbound client, and built-ins."""

    def __init__(
        self,
        outbound: OutboundClient,
        *,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
        listing_ttl: float = 60.0,
    ):
        self.outbound = outbound
        self.mcp = McpConnector(outbound)
        self.max_result_chars = max_result_chars
        self.listing_ttl = listing_ttl
        self._listings: dict[tuple[str, str], tuple[float, list[RemoteTool]]] = {}

    async def offer(
        self,
        configs: Sequence[RestfulTool | McpTool],
        *,
        builtins: Sequence[str] = (),
        descriptions: Mapping[str, str] | None = None,
    ) -> Offer:
        tools: list[OfferedTool] = []
        problems: list[dict[str, str]] = []
        taken: set[str] = set()
        for name in builtins:
            if is_builtin(name) and name not in taken:
                tools.append(OfferedTool(builtin_spec(name, (descriptions or {}).get(name)), "builtin"))
                taken.add(name)
        for config in configs:
            match config:
                case RestfulTool():
                    called = config.function_name
                    if called in taken:
                        problems.append(
                            {"toolId": config.id, "error": f"the name {called!r} is offered twice"}
                        )
                        continue
                    spec = ToolSpec(called, config.description, config.input_schema)
                    tools.append(OfferedTool(spec, "restful", config))
                    taken.add(called)
                case McpTool():
                    try:
                        remote = await self._listing(config)
                    except (OutboundError, ToolError) as exc:
                        problems.append({"toolId": config.id, "error": exc.message})
                        continue
                    for item in remote:
                        name = _unique(
                            _BAD_NAME_CHARS.sub("_", item.name)[:64] or "tool", config.function_name, taken
                        )
                        spec = ToolSpec(name, item.description[:2000], item.input_schema)
                        tools.append(OfferedTool(spec, "mcp", config, item.name))
                        taken.add(name)
        return Offer(tuple(tools), tuple(problems))

    async def _listing(self, config: McpTool) -> list[RemoteTool]:
        key = (config.id, json.dumps(config.metadata.to_json(), sort_keys=True))
        cached = self._listings.get(key)
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1]
        remote = await self.mcp.list_tools(config)
        self._listings[key] = (now + self.listing_ttl, remote)
        return remote

    async def run(self, offer: Offer, call: ToolCall, variables: Mapping[str, Any]) -> ToolResult:
        began = time.perf_counter()
        try:
            result = await self._run(offer, call, variables)
        except Exception as exc:  # a bug must not end the conversation: logged, and an error result
            log.exception("tool %r failed unexpectedly", call.name)
            result = failure(
                call.id,
                call.name,
                f"The tool failed with an internal error ({type(exc).__name__}).",
                {"name": call.name},
            )
        result.record.update(callId=call.id, totalMs=round((time.perf_counter() - began) * 1000, 2))
        return result

    async def _run(self, offer: Offer, call: ToolCall, variables: Mapping[str, Any]) -> ToolResult:
        offered = offer.get(call.name)
        if offered is None:
            names = ", ".join(t.spec.name for t in offer.tools) or "none"
            return failure(
                call.id,
                call.name,
                f"There is no tool named {call.name!r} at this step (available: {names}).",
                {"name": call.name, "sent": False},
            )
        match offered.kind:
            case "builtin":
                return run_builtin(call.name, call.id, call.arguments)
            case "restful":
                assert isinstance(offered.config, RestfulTool)
                return await run_restful(
                    offered.config,
                    call.id,
                    call.arguments,
                    variables,
                    self.outbound,
                    max_chars=self.max_result_chars,
                )
            case "mcp":
                assert isinstance(offered.config, McpTool) and offered.remote_name is not None
                return await self._run_mcp(offered.config, offered.remote_name, offered.spec, call)

    async def _run_mcp(self, config: McpTool, remote_name: str, spec: ToolSpec, call: ToolCall) -> ToolResult:
        record: dict[str, Any] = {
            "toolId": config.id,
            "type": "mcp",
            "name": call.name,
            "remoteName": remote_name,
        }
        try:
            arguments = await asyncio.to_thread(parse_arguments, call.arguments, spec.parameters)
        except ValueError as exc:  # the arguments, or the server's own schema (SchemaRefused)
            return arguments_failure(call.id, call.name, exc, record)
        record["arguments"] = arguments
        try:
            outcome = await self.mcp.call(config, remote_name, arguments)
        except (OutboundError, ToolError) as exc:
            return failure(call.id, call.name, f"The call failed: {exc.message}", {**record, "sent": True})
        status = "error" if outcome.is_error else "ok"
        content = delimit(call.name, outcome.text, status=status, max_chars=self.max_result_chars)
        return ToolResult(
            call.id,
            call.name,
            content,
            outcome.is_error,
            {**record, "sent": True, "status": status, "chars": len(outcome.text)},
            output=None if outcome.is_error else outcome.text,
        )


def _unique(name: str, prefix: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    candidate = f"{prefix}__{name}"[:64]
    suffix = 2
    while candidate in taken:
        candidate = f"{prefix}__{name}"[:60] + f"_{suffix}"
        suffix += 1
    return candidate

"""A scripted :class:`~pathweaver.tools.runner.ToolPort` for engine tests: no network.

Offers the given specs (plus the real built-ins) and answers each call from a table of
canned results by tool name, recording every call it receives.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pathweaver.llm.base import ToolCall, ToolSpec
from pathweaver.tools.builtins import builtin_spec, is_builtin, run_builtin
from pathweaver.tools.config import McpTool, RestfulTool
from pathweaver.tools.result import ToolResult, delimit, failure
from pathweaver.tools.runner import Offer, OfferedTool

Answer = str | Callable[[dict[str, Any]], str]


@dataclass
class ScriptedTools:
    answers: Mapping[str, Answer] = field(default_factory=dict)
    """Tool name -> text (or a function of the arguments) returned as its result."""
    errors: Mapping[str, str] = field(default_factory=dict)
    """Tool name -> error message returned as an error result."""
    calls: list[ToolCall] = field(default_factory=list)

    async def offer(
        self,
        configs: Sequence[RestfulTool | McpTool],
        *,
        builtins: Sequence[str] = (),
        descriptions: Mapping[str, str] | None = None,
    ) -> Offer:
        tools = [
            OfferedTool(builtin_spec(n, (descriptions or {}).get(n)), "builtin")
            for n in builtins
            if is_builtin(n)
        ]
        for config in configs:
            kind: Literal["restful", "mcp"] = "restful" if isinstance(config, RestfulTool) else "mcp"
            tools.append(
                OfferedTool(
                    ToolSpec(config.function_name, config.description, config.input_schema), kind, config
                )
            )
        return Offer(tuple(tools))

    async def run(self, offer: Offer, call: ToolCall, variables: Mapping[str, Any]) -> ToolResult:
        self.calls.append(call)
        if offer.get(call.name) is None:
            return failure(
                call.id, call.name, f"There is no tool named {call.name!r} at this step.", {"name": call.name}
            )
        if is_builtin(call.name):
            return run_builtin(call.name, call.id, call.arguments)
        if call.name in self.errors:
            return failure(call.id, call.name, self.errors[call.name], {"name": call.name})
        answer = self.answers.get(call.name, "")
        text = answer(json.loads(call.arguments or "{}")) if callable(answer) else answer
        return ToolResult(
            call.id,
            call.name,
            delimit(call.name, text),
            False,
            {"name": call.name, "status": "ok"},
            output=text,
        )

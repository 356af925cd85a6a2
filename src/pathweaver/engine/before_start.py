"""``beforeStartConfig``: tools run once, before a session's first turn, to seed its variables.

Pathors documents the field (``{enabled, mode, toolTemplates: [{toolName, toolId,
parameters}]}``) but not its behaviour; this is what Pathweaver does, as a CRM lookup by the
caller's number would need:

* When: at the start of the session's first turn (``turn_count`` 0), before anything else
  of the turn, so the first reply can already use the values. Templates run in order.
* Which tool: ``toolId``, a tool of the project (RESTful or MCP); without one, the project's
  tool whose ``name`` is ``toolName``. For an MCP server, ``toolName`` names the remote tool
  (else its first). A template naming no tool of the project is skipped and noted.
* Arguments: ``parameters``, whose text values may hold ``{{placeholders}}`` filled from the
  session variables the caller passed (``{"phone": "{{caller_number}}"}``).
* Values: when the tool answers a JSON object, each of its top-level keys that the agent
  declares in ``variableConfigs`` becomes an extracted variable of the session (typed as
  declared; a value of the wrong type is refused and traced), unless the session already
  has one. Other keys are ignored.
* Failures: a tool that fails, times out (:data:`SECONDS` per template) or answers something
  else is recorded in the trace; the turn goes on without its values, never fails.
* ``mode`` is stored and ignored (its values are not documented).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.parts import ToolTemplate
from pathweaver.engine import extraction
from pathweaver.engine.events import (
    Notice,
    ToolCalled,
    ToolResulted,
    TurnEvent,
    VariableRejected,
    VariableSet,
)
from pathweaver.engine.prompt import render
from pathweaver.llm.base import ToolCall
from pathweaver.tools.config import McpTool, RestfulTool
from pathweaver.tools.runner import ToolPort

#: How long one template's tool may take before the turn goes on without it.
SECONDS = 10.0


def due(agent: AgentConfig, turn_count: int) -> bool:
    config = agent.before_start_config
    return turn_count == 0 and config is not None and config.enabled and bool(config.tool_templates)


async def run(
    agent: AgentConfig,
    tools: ToolPort | None,
    tool_configs: Mapping[str, RestfulTool | McpTool],
    session_variables: Mapping[str, Any],
    extracted: dict[str, Any],
    node_id: str,
) -> list[TurnEvent]:
    """Run the templates; set the values they give in ``extracted``; the events to trace."""
    assert agent.before_start_config is not None
    events: list[TurnEvent] = []
    declared = {config.key: config for config in agent.variable_configs or ()}
    for index, template in enumerate(agent.before_start_config.tool_templates):
        config = _tool(template, tool_configs)
        if config is None or tools is None:
            named = template.tool_id or template.tool_name or "(none)"
            events.append(
                Notice(
                    "before_start_skipped",
                    node_id,
                    f"beforeStartConfig.toolTemplates[{index}] names {named!r}, which is not a tool of this "
                    "project: it was not run",
                )
            )
            continue
        offer = await tools.offer([config])
        names = [tool.spec.name for tool in offer.tools]
        if not names:
            events.append(
                Notice(
                    "before_start_skipped", node_id, f"the tool {config.name!r} could not be reached: not run"
                )
            )
            continue
        name = template.tool_name if template.tool_name in names else names[0]
        arguments = json.dumps(_filled(template.parameters, session_variables), ensure_ascii=False)
        call = ToolCall(f"before_start_{index}", name, arguments)
        events.append(ToolCalled(name, arguments, node_id))
        try:
            async with asyncio.timeout(SECONDS):
                result = await tools.run(offer, call, session_variables)
        except TimeoutError:
            message = (
                f"beforeStartConfig: the tool {name!r} took more than {SECONDS:g} s; the session went on"
            )
            events.append(
                ToolResulted(name, message, True, {"name": name, "status": "error", "error": message})
            )
            continue
        events.append(ToolResulted(name, result.content, result.is_error, result.record))
        if result.is_error or result.output is None:
            continue
        try:
            answered = json.loads(result.output)
        except json.JSONDecodeError:
            continue
        if not isinstance(answered, dict):
            continue
        for key, value in answered.items():
            if key not in declared or extracted.get(key) is not None or value is None:
                continue
            typed, why = extraction.coerce(declared[key], value)
            if why is not None:
                events.append(VariableRejected(key, f"beforeStartConfig ({name}): {why}"))
                continue
            extracted[key] = typed
            events.append(VariableSet(key, typed))
    return events


def _tool(
    template: ToolTemplate, configs: Mapping[str, RestfulTool | McpTool]
) -> RestfulTool | McpTool | None:
    if template.tool_id:
        return configs.get(template.tool_id)
    return next((c for c in configs.values() if template.tool_name in (c.name, c.function_name)), None)


def _filled(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, dict):
        return {key: _filled(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, variables) for item in value]
    return value

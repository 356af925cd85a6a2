"""``beforeStartConfig``: its tools run once, before the first turn, and seed the declared
variables from what they answer; a failure is traced and the turn goes on."""

from __future__ import annotations

import json
from typing import Any

from pathweaver.agent.config import AgentConfig
from pathweaver.engine.turn import Limits, TurnInput, run_turn
from pathweaver.llm.base import ChatRequest, Message
from pathweaver.llm.scripted import Reply, ScriptedModel
from pathweaver.tools.config import parse_tool
from pathweaver.tools.scripted import ScriptedTools
from tests.engine.test_turn import NOW, node, pathway, session

CRM = parse_tool(
    {
        "id": "tool_crm",
        "type": "restful",
        "name": "crm_lookup",
        "metadata": {"url": "https://crm.example/customers"},
        "inputSchema": {"type": "object", "properties": {"phone": {"type": "string"}}},
    }
)
GRAPH = pathway([node("start", "start", prompt="Greet {{customer_name}} by name.")], [])


def agent(**before: Any) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "variableConfigs": [
                {"key": "customer_name", "type": "string"},
                {"key": "open_orders", "type": "number"},
            ],
            "beforeStartConfig": {
                "enabled": True,
                "toolTemplates": [{"toolId": "tool_crm", "parameters": {"phone": "{{caller_number}}"}}],
                **before,
            },
        }
    )


async def first_turn(
    config: AgentConfig, tools: ScriptedTools, turn_count: int = 0
) -> tuple[Any, ScriptedModel]:
    model = ScriptedModel([Reply("Hello!")])
    turn_input = TurnInput(
        agent=config,
        pathway=GRAPH,
        session=session("start", variables={"caller_number": "+44 7700 900461"}, turn_count=turn_count),
        history=[],
        incoming=[Message(role="user", content="hi")],
        now=NOW,
        tools=tools,
        tool_configs={"tool_crm": CRM},
    )
    events = [event async for event in run_turn(turn_input, model, Limits())]
    return events[-1].outcome, model


async def test_the_first_turn_runs_the_tools_and_seeds_the_declared_values() -> None:
    answer = json.dumps({"customer_name": "Dana Levi", "open_orders": "2", "tier": "gold"})
    tools = ScriptedTools(answers={"crm_lookup": answer})
    outcome, model = await first_turn(agent(), tools)
    [call] = tools.calls
    assert json.loads(call.arguments) == {"phone": "+44 7700 900461"}  # filled from the session
    assert outcome.extracted == {"customer_name": "Dana Levi", "open_orders": 2}  # typed; undeclared left out
    reply = next(c for c in model.calls if isinstance(c, ChatRequest))
    assert "Greet Dana Levi by name." in (reply.messages[0].content or "")  # the first reply has them
    assert outcome.trace["toolEvents"][0]["name"] == "crm_lookup"


async def test_later_turns_and_disabled_configs_run_nothing() -> None:
    tools = ScriptedTools(answers={"crm_lookup": "{}"})
    await first_turn(agent(), tools, turn_count=3)
    await first_turn(agent(enabled=False), tools)
    assert tools.calls == []


async def test_a_failing_or_unknown_tool_is_traced_and_the_turn_goes_on() -> None:
    failing = ScriptedTools(errors={"crm_lookup": "HTTP 503"})
    outcome, _ = await first_turn(agent(), failing)
    assert outcome.text == "Hello!" and outcome.extracted == {}
    assert any("503" in json.dumps(e) for e in outcome.trace["toolEvents"])

    unknown = agent(toolTemplates=[{"toolId": "tool_gone"}])
    outcome, _ = await first_turn(unknown, ScriptedTools())
    assert outcome.text == "Hello!"
    [notice] = outcome.trace["notices"]
    assert notice["kind"] == "before_start_skipped" and "tool_gone" in notice["message"]


async def test_a_value_of_the_wrong_type_is_refused_and_traced() -> None:
    tools = ScriptedTools(answers={"crm_lookup": json.dumps({"open_orders": "many", "customer_name": "Sam"})})
    outcome, _ = await first_turn(agent(), tools)
    assert outcome.extracted == {"customer_name": "Sam"}


async def test_through_the_conversation_service_the_tools_run_on_the_first_turn_only(tmp_path: Any) -> None:
    """The service loads the templates' tools even when no node lists them, and the seeded
    values are stored with the session."""
    from pathweaver.config import Settings
    from pathweaver.conversations import Conversations, TurnResult
    from pathweaver.testing.runner import temporary_project

    config = agent(toolTemplates=[{"toolName": "crm_lookup", "parameters": {"phone": "unknown"}}])
    tools = ScriptedTools(answers={"crm_lookup": json.dumps({"customer_name": "Dana Levi"})})
    async with temporary_project(config, GRAPH, Settings(data_dir=tmp_path, fake_model=True)) as opened:
        store, project_id, local = opened
        await store.tools.create_tool(project_id, CRM)
        model = ScriptedModel([Reply("Hello Dana!"), Reply("Sure.")])
        service = Conversations(store, model, local, tools=tools)
        results = []
        for text in ("hi", "thanks"):
            events = [e async for e in service.chat(project_id, "s1", [Message(role="user", content=text)])]
            results.append(events[-1])
        assert all(isinstance(r, TurnResult) for r in results)
        assert len(tools.calls) == 1
        assert results[1].session.extracted == {"customer_name": "Dana Levi"}

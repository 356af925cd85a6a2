"""A node that lists a tool the project no longer has runs without it, and the trace says
so (issue 20, defect 12): the turn neither fails nor hides it."""

from __future__ import annotations

from pathweaver.agent.config import AgentConfig
from pathweaver.engine.turn import Limits, TurnInput, run_turn
from pathweaver.llm.base import Message
from pathweaver.llm.scripted import Reply, ScriptedModel
from pathweaver.tools.config import parse_tool
from pathweaver.tools.scripted import ScriptedTools
from tests.engine.test_turn import NOW, node, pathway, session


async def test_a_deleted_tool_is_left_out_and_traced() -> None:
    kept = parse_tool(
        {"id": "tool_kept", "type": "restful", "name": "lookup", "metadata": {"url": "https://x.example"}}
    )
    graph = pathway([node("start", "start", tools=["tool_kept", "tool_gone", "end_call"])], [])
    model = ScriptedModel([Reply("Hello.")])
    turn_input = TurnInput(
        agent=AgentConfig(),
        pathway=graph,
        session=session("start"),
        history=[],
        incoming=[Message(role="user", content="hi")],
        now=NOW,
        tools=ScriptedTools(),
        tool_configs={"tool_kept": kept},  # tool_gone was deleted: the store skips it
    )
    events = [event async for event in run_turn(turn_input, model, Limits())]
    outcome = events[-1].outcome
    assert outcome.text == "Hello."
    offered = {tool.name for call in model.calls for tool in call.tools}
    assert {"lookup", "end_call"} <= offered
    assert outcome.trace["toolEvents"] == [
        {
            "type": "tool_unavailable",
            "nodeId": "start",
            "toolId": "tool_gone",
            "error": "not a tool of this project (deleted?); the node runs without it",
        }
    ]

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


async def test_a_tool_without_filler_lines_gets_the_agents_in_the_agents_language() -> None:
    """Agent-level ``placeholderMessages`` (pathors-api.md 2.6): streamed while a server-side
    tool that has none of its own runs; a tool's own lines come first."""
    from pathweaver.engine.events import ReplyDelta
    from pathweaver.llm.base import ToolCall

    plain = parse_tool(
        {"id": "tool_plain", "type": "restful", "name": "lookup", "metadata": {"url": "https://x.example"}}
    )
    own = parse_tool(
        {
            "id": "tool_own",
            "type": "restful",
            "name": "book",
            "metadata": {"url": "https://x.example"},
            "placeholderMessages": {"messages": ["Booking it now."]},
        }
    )
    agent = AgentConfig.model_validate(
        {
            "language": "fr",
            "placeholderMessages": {
                "messages": {"en": ["One moment please."], "fr": ["Un instant, s'il vous plaît."]},
                "defaultLanguage": "en",
            },
        }
    )
    graph = pathway([node("start", "start", tools=["tool_plain", "tool_own"])], [])

    async def streamed(tool: str) -> list[str]:
        model = ScriptedModel([Reply(calls=[ToolCall("c1", tool, "{}")]), Reply("Voilà.")])
        turn_input = TurnInput(
            agent=agent,
            pathway=graph,
            session=session("start"),
            history=[],
            incoming=[Message(role="user", content="salut")],
            now=NOW,
            tools=ScriptedTools(answers={"lookup": "ok", "book": "ok"}),
            tool_configs={"tool_plain": plain, "tool_own": own},
        )
        events = [event async for event in run_turn(turn_input, model, Limits())]
        return [event.text for event in events if isinstance(event, ReplyDelta)]

    assert await streamed("lookup") == ["Un instant, s'il vous plaît. ", "Voilà."]
    assert await streamed("book") == ["Booking it now. ", "Voilà."]


def test_the_agents_filler_lines_in_each_shape_a_user_writes() -> None:
    from pathweaver.agent.parts import AgentPlaceholders

    def lines(raw: dict, language: str | None) -> list[str]:
        return AgentPlaceholders.model_validate(raw).for_language(language)

    assert lines({"messages": ["Hold on."]}, "de") == ["Hold on."]
    by_language = {"messages": {"en": ["Hold on."], "zh-TW": "請稍候。"}, "defaultLanguage": "zh-TW"}
    assert lines(by_language, "en") == ["Hold on."]
    assert lines(by_language, "de") == ["請稍候。"]  # the default language's
    assert lines({"en": ["Hold on."]}, None) == ["Hold on."]  # languages at the top level
    assert lines({"messages": {}}, "en") == []

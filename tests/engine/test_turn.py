"""The turn loop with the scripted model: node kinds, transitions, gotos, end, extraction.

These run in ``turbo`` mode unless a test says otherwise (the transition tool offered with
the reply); the decision-first modes (``smart``, ``balance``) have ``test_routing.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.pathway import Pathway
from pathweaver.engine.events import TransitionChosen, TransitionRejected, TurnDone, VariableRejected
from pathweaver.engine.prompt import TRANSITION_TOOL, render
from pathweaver.engine.state import SessionState
from pathweaver.engine.turn import Limits, TurnInput, run_turn
from pathweaver.errors import StepLimitExceeded
from pathweaver.llm.base import ChatRequest, Message, ToolCall
from pathweaver.llm.scripted import Reply, ScriptedModel

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def node(node_id: str, kind: str = "prompt", **data: Any) -> dict[str, Any]:
    body = {"type": kind, "title": node_id.title(), "prompt": f"You are at {node_id}.", **data}
    return {"id": node_id, "position": {"x": 0, "y": 0}, "data": body}


def edge(source: str, target: str, condition: str) -> dict[str, Any]:
    return {"id": f"{source}-{target}", "source": source, "target": target, "data": {"condition": condition}}


def pathway(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> Pathway:
    return Pathway.model_validate({"nodes": nodes, "edges": edges})


def session(at: str, visited: tuple[str, ...] | None = None, **fields: Any) -> SessionState:
    base: dict[str, Any] = {
        "pk": 1,
        "project_id": "p",
        "external_id": "s",
        "pathway_version": 1,
        "provider": "api",
        "session_type": "text",
        "status": "active",
        "end_reason": None,
        "variables": {},
        "extracted": {},
        "current_node_id": at,
        "visited": visited or (at,),
        "turn_count": 0,
        "message_count": 0,
        "marked": False,
        "evaluation": None,
        "created_at": NOW,
        "updated_at": NOW,
        "ended_at": None,
    }
    base.update(fields)
    return SessionState(**base)


def go(target: str) -> Reply:
    return Reply(calls=[ToolCall("call_t", TRANSITION_TOOL, json.dumps({"next": target}))])


async def turn(
    graph: Pathway,
    state: SessionState,
    text: str,
    model: ScriptedModel,
    agent: AgentConfig | None = None,
    **kw,
):
    events = []
    turn_input = TurnInput(
        agent=agent or AgentConfig(execution_mode="turbo"),
        pathway=graph,
        session=state,
        history=[],
        incoming=[Message(role="user", content=text)],
        now=NOW,
    )
    async for event in run_turn(turn_input, model, Limits(**kw)):
        events.append(event)
    done = events[-1]
    assert isinstance(done, TurnDone)
    return done.outcome, events


BOOKING = pathway(
    [
        node("start", "start"),
        node("ask_size"),
        node("human", isGlobalNode=True, globalNodeReason="The user asks to talk to a human"),
        node("bye", "end"),
    ],
    [
        edge("start", "ask_size", "The user wants to book a table"),
        edge("ask_size", "bye", "The user gave the party size"),
        edge("human", "start", "The user wants to continue with the bot"),
    ],
)


async def test_no_transition_costs_one_model_call() -> None:
    model = ScriptedModel()
    outcome, _ = await turn(BOOKING, session("start"), "hello", model)
    assert outcome.node_after == "start"
    assert outcome.text == "You said: hello"
    assert model.count() == 1
    request = model.calls[0]
    assert isinstance(request, ChatRequest)
    assert [t.name for t in request.tools] == [TRANSITION_TOOL]


async def test_a_transition_costs_two_calls_and_the_reply_comes_from_the_new_node() -> None:
    model = ScriptedModel()
    outcome, events = await turn(BOOKING, session("start"), "I want to book a table", model)
    assert outcome.node_after == "ask_size"
    assert model.count() == 2
    second = model.calls[1]
    assert isinstance(second, ChatRequest)
    assert "You are at ask_size." in (second.messages[0].content or "")
    assert "You are at start." not in (second.messages[0].content or ""), "prompt isolation"
    assert second.tools == (), "a node speaks before it is left"
    chosen = [e for e in events if isinstance(e, TransitionChosen)]
    assert chosen[0].to_node == "ask_size"
    assert outcome.trace["transitions"][0]["candidates"][0]["target"] == "ask_size"
    assert outcome.visited == ("start", "ask_size")


async def test_global_nodes_are_candidates_from_regular_nodes() -> None:
    model = ScriptedModel([go("human"), Reply("A human will call you.")])
    outcome, _ = await turn(BOOKING, session("ask_size"), "let me talk to a human", model)
    assert outcome.node_after == "human"
    offered = model.calls[0].tools[0].parameters["properties"]["next"]["oneOf"]
    assert {o["const"] for o in offered} == {"bye", "human"}


async def test_a_global_node_leaves_only_by_its_own_edges() -> None:
    graph = pathway(
        [
            node("start", "start"),
            node("faq", isGlobalNode=True, globalNodeReason="questions"),
            node("human", isGlobalNode=True, globalNodeReason="a human"),
        ],
        [edge("faq", "start", "back to booking")],
    )
    model = ScriptedModel([Reply("ok")])
    await turn(graph, session("faq"), "hi", model)
    offered = model.calls[0].tools[0].parameters["properties"]["next"]["oneOf"]
    assert [o["const"] for o in offered] == ["start"]


async def test_an_invalid_choice_never_moves_the_session() -> None:
    model = ScriptedModel([go("nowhere"), Reply("Sorry, could you repeat?")])
    outcome, events = await turn(BOOKING, session("start"), "hmm", model)
    assert outcome.node_after == "start"
    assert any(isinstance(e, TransitionRejected) for e in events)
    assert outcome.text == "Sorry, could you repeat?"
    assert model.count() == 2


async def test_end_node_replies_and_ends() -> None:
    model = ScriptedModel([go("bye"), Reply("Goodbye!")])
    outcome, _ = await turn(BOOKING, session("ask_size"), "four people", model)
    assert outcome.ended and outcome.end_reason == "end_node"
    assert outcome.node_after == "bye" and outcome.text == "Goodbye!"


def goto_graph(reference: str | None) -> Pathway:
    return pathway(
        [
            node("start", "start"),
            node("ask_date"),
            {"id": "loop", "data": {"type": "goto", "title": "Again", "referenceNodeId": reference}},
            {"id": "loop2", "data": {"type": "goto", "title": "Hop", "referenceNodeId": "loop"}},
        ],
        [
            edge("start", "ask_date", "The user wants an appointment"),
            edge("ask_date", "loop2", "The slot does not suit"),
        ],
    )


async def test_goto_chains_are_followed_without_a_model_call() -> None:
    model = ScriptedModel([go("loop2"), Reply("Which other day?")])
    outcome, _ = await turn(goto_graph("ask_date"), session("ask_date", ("start", "ask_date")), "no", model)
    assert outcome.node_after == "ask_date"
    assert [e["nodeId"] for e in outcome.trace["entered"]] == ["loop2", "loop", "ask_date"]
    assert model.count() == 2


async def test_goto_with_a_null_reference_stays() -> None:
    model = ScriptedModel([go("loop2"), Reply("ok")])
    outcome, _ = await turn(goto_graph(None), session("ask_date"), "no", model)
    assert outcome.node_after == "ask_date"


async def test_a_goto_cycle_keeps_the_conversation_where_it_was_and_says_why() -> None:
    model = ScriptedModel([go("loop2"), Reply("Which day then?")])
    outcome, _ = await turn(goto_graph("loop2"), session("ask_date"), "no", model)
    assert outcome.node_after == "ask_date" and outcome.text == "Which day then?"
    (notice,) = outcome.trace["notices"]
    assert notice["kind"] == "goto_cycle" and "goto cycle" in notice["message"]
    assert notice["nodeId"] == "ask_date"


async def test_the_step_cap_raises_a_named_error() -> None:
    model = ScriptedModel([go("ask_size"), Reply("x")])
    with pytest.raises(StepLimitExceeded):
        await turn(BOOKING, session("start"), "book a table", model, max_steps=1)


VARS = AgentConfig.model_validate(
    {
        "executionMode": "turbo",
        "variableConfigs": [
            {"key": "customer_name", "type": "string", "description": "the customer's name"},
            {"key": "party_size", "type": "number", "description": "how many people"},
            {"key": "email", "type": "email", "description": "contact email"},
        ],
    }
)
EXTRACTING = pathway(
    [
        node("start", "start", variableKeys=["customer_name"]),
        node("ask_size", variableKeys=["party_size"]),
        node("contact", variableKeys=["email"]),
    ],
    [
        edge("start", "ask_size", "The user gave a name"),
        edge("ask_size", "contact", "The user gave the size"),
    ],
)


async def test_smart_mode_extracts_the_keys_of_visited_nodes_and_of_the_next_step() -> None:
    model = ScriptedModel([Reply("Nice to meet you")])
    agent = VARS.model_copy(update={"execution_mode": "smart"})
    outcome, _ = await turn(EXTRACTING, session("start"), "I'm Ann, 4 people", model, agent)
    assert outcome.node_after == "start"
    extract = [c for c in model.calls if c.purpose == "extract"][0]
    # start's own key, and the key of ask_size, one edge away: a value given before its
    # question is kept from the turn it is said; contact (two steps away) is not asked.
    assert set(extract.schema["properties"]) == {"customer_name", "party_size"}
    assert outcome.extracted == {"customer_name": "Ann", "party_size": 4.0}
    assert outcome.trace["variables"]["set"] == {"customer_name": "Ann", "party_size": 4.0}


async def test_turbo_mode_extracts_every_key() -> None:
    model = ScriptedModel([Reply("ok")])
    agent = VARS.model_copy(update={"execution_mode": "turbo"})
    outcome, _ = await turn(EXTRACTING, session("start"), "mail me at ann@example.com", model, agent)
    extract = [c for c in model.calls if c.purpose == "extract"][0]
    assert set(extract.schema["properties"]) == {"customer_name", "party_size", "email"}
    assert outcome.extracted["email"] == "ann@example.com"


async def test_typed_validation_rejects_bad_values_and_corrections_win() -> None:
    model = ScriptedModel([Reply("ok")], structured_answers=[{"party_size": "four", "customer_name": "Bo"}])
    state = session("ask_size", ("start", "ask_size"), extracted={"customer_name": "Ann", "party_size": 2})
    outcome, events = await turn(EXTRACTING, state, "actually I am Bo", model, VARS)
    assert outcome.extracted == {"customer_name": "Bo", "party_size": 2}
    assert any(isinstance(e, VariableRejected) and e.key == "party_size" for e in events)


async def test_email_must_be_an_email() -> None:
    model = ScriptedModel([Reply("ok")], structured_answers=[{"email": "not-an-email"}])
    agent = VARS.model_copy(update={"execution_mode": "turbo"})
    outcome, _ = await turn(EXTRACTING, session("start"), "x", model, agent)
    assert "email" not in outcome.extracted


async def test_no_keys_means_no_extraction_call() -> None:
    model = ScriptedModel()
    await turn(BOOKING, session("start"), "hello", model, VARS.model_copy(update={"execution_mode": "smart"}))
    assert model.count("extract") == 0


async def test_extraction_failure_does_not_fail_the_turn() -> None:
    from pathweaver.errors import ModelOutputError

    model = ScriptedModel([Reply("still here")], structured_answers=[ModelOutputError("truncated JSON")])
    outcome, _ = await turn(EXTRACTING, session("start"), "I'm Ann", model, VARS)
    assert outcome.text == "still here"
    assert outcome.extracted == {}
    assert outcome.trace["modelCalls"][-1]["error"] == "truncated JSON"


async def test_template_values_are_data_never_code() -> None:
    assert (
        render("Hi {{name}}, {{unknown}}", {"name": "{{7*7}} {% raw %}"})
        == "Hi {{7*7}} {% raw %}, {{unknown}}"
    )
    graph = pathway([node("start", "start", prompt="Greet {{name}} warmly.")], [])
    model = ScriptedModel([Reply("hi")])
    await turn(graph, session("start", variables={"name": "{{7*7}}"}), "hello", model)
    assert "Greet {{7*7}} warmly." in (model.calls[0].messages[0].content or "")


async def test_system_prompt_carries_global_prompt_modules_variables_and_time() -> None:
    agent = AgentConfig.model_validate(
        {
            "globalPrompt": "You are Pat from Chez Nous.",
            "timezone": "Asia/Taipei",
            "promptModules": [
                {"name": "Tone", "content": "Be warm.", "enabled": True},
                {"name": "Off", "content": "SECRET", "enabled": False},
            ],
        }
    )
    model = ScriptedModel([Reply("hi")])
    await turn(BOOKING, session("start", variables={"vip": True}), "hello", model, agent)
    system = model.calls[0].messages[0].content or ""
    assert "You are Pat from Chez Nous." in system
    assert "Be warm." in system and "SECRET" not in system
    assert '"vip": true' in system
    assert "2026-11-29 20:00 (Asia/Taipei)" in system


async def test_a_new_node_reads_what_the_user_just_said() -> None:
    graph = pathway(
        [
            node("start", "start", variableKeys=["party_size"]),
            node("confirm", prompt="Confirm a table for {{party_size}}."),
        ],
        [edge("start", "confirm", "The user gave the party size")],
    )
    model = ScriptedModel([go("confirm"), Reply("Confirmed.")], structured_answers=[{"party_size": 4}])
    await turn(graph, session("start"), "we are 4", model, VARS)
    reply_call = [c for c in model.calls if c.purpose == "reply"][0]
    assert "Confirm a table for 4." in (reply_call.messages[0].content or "")


async def test_server_side_tools_run_inside_the_turn_and_end_call_ends_the_session() -> None:
    from pathweaver.tools.scripted import ScriptedTools

    graph = pathway([node("start", "start", tools=["end_call"])], [])
    model = ScriptedModel(
        [
            Reply(calls=[ToolCall("call_end", "end_call", '{"reason": "the user said goodbye"}')]),
            Reply("Goodbye!"),
        ]
    )
    tools = ScriptedTools()
    turn_input = TurnInput(
        agent=AgentConfig(),
        pathway=graph,
        session=session("start"),
        history=[],
        incoming=[Message(role="user", content="bye")],
        now=NOW,
        tools=tools,
    )
    events = [event async for event in run_turn(turn_input, model, Limits())]
    outcome = events[-1].outcome
    assert outcome.text == "Goodbye!" and outcome.client_tool_calls == ()
    assert outcome.ended and outcome.end_reason == "end_call"
    assert [e["type"] for e in outcome.trace["toolEvents"]] == ["tool_call", "tool_result"]
    internal = [m for m in outcome.messages if m.internal]
    assert [m.message.role for m in internal] == ["assistant", "tool"]
    offered = [t.name for t in model.calls[0].tools]
    assert "end_call" in offered
    assert model.count() == 2, "the tool call, then the reply with its result"

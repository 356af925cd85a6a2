"""The agents in examples/: valid, written in canonical form, exact round trips, and they route."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.files import (
    dump_agent_file,
    dump_pathway_yaml,
    load_agent_file,
    load_pathway_yaml,
    read_agent_file,
)
from pathweaver.agent.pathway import Pathway
from pathweaver.agent.validation import validate_pathway
from pathweaver.engine.prompt import transition_candidates
from pathweaver.engine.turn import TurnInput, run_turn
from pathweaver.llm.base import Message, StructuredRequest
from pathweaver.llm.scripted import ScriptedModel, best_option, default_structured
from tests.engine.test_turn import NOW, session

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = sorted(EXAMPLES.glob("*.yaml"))


def load(name: str) -> tuple[AgentConfig, Pathway]:
    return read_agent_file(EXAMPLES / name)


def test_the_three_examples_are_there_and_in_the_readme() -> None:
    names = {path.name for path in FILES}
    assert {"restaurant-booking.yaml", "appointment-rescheduling.yaml", "support-triage.yaml"} <= names
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name in names:
        assert f"[`{name}`]({name})" in readme


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_an_example_validates_without_errors_or_warnings(path: Path) -> None:
    agent, pathway = read_agent_file(path)
    report = validate_pathway(pathway, agent, tool_ids=set())
    assert report.errors == []
    assert report.warnings == []


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_an_example_is_written_exactly_as_the_dumper_writes_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert dump_agent_file(*load_agent_file(text, str(path))) == text


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_an_example_round_trips_exactly(path: Path) -> None:
    agent, pathway = read_agent_file(path)
    as_json = pathway.to_json()
    again_agent, again = load_agent_file(dump_agent_file(agent, Pathway.model_validate(as_json)))
    assert json.dumps(again.to_json()) == json.dumps(as_json)
    assert json.dumps(again_agent.to_json()) == json.dumps(agent.to_json())
    alone = load_pathway_yaml(dump_pathway_yaml(Pathway.model_validate(as_json)))
    assert json.dumps(alone.to_json()) == json.dumps(as_json)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_an_example_is_laid_out_top_to_bottom(path: Path) -> None:
    _, pathway = read_agent_file(path)
    start = pathway.start_node()
    assert start is not None
    positions = [(node.position.x, node.position.y) for node in pathway.nodes]
    assert len(set(positions)) == len(positions)  # no two nodes on the same spot
    assert start.position.y == min(y for _, y in positions)
    for edge in pathway.edges:
        source, target = pathway.node_by_id[edge.source], pathway.node_by_id[edge.target]
        if target.kind == "end":
            assert target.position.y > source.position.y, edge.id


def test_restaurant_booking_has_what_it_promises() -> None:
    agent, pathway = load("restaurant-booking.yaml")
    types = {variable.key: variable.type for variable in agent.variable_configs or ()}
    assert {
        "customer_name": "string",
        "party_size": "number",
        "booking_date": "string",
    }.items() <= types.items()
    (human,) = pathway.global_nodes
    assert human.data.is_global_node and "human" in (human.data.global_node_reason or "")
    assert any(node.kind == "end" for node in pathway.nodes)


def test_appointment_rescheduling_loops_back_with_a_goto() -> None:
    agent, pathway = load("appointment-rescheduling.yaml")
    email = agent.variable("email")
    assert email is not None and email.type == "email"
    (goto,) = pathway.iter_kind("goto")
    order = [node.id for node in pathway.nodes]
    assert goto.data.reference_node_id in order[: order.index(goto.id)]  # an earlier question
    assert any(node.kind == "end" for node in pathway.nodes)


def test_support_triage_branches_on_the_problem_type() -> None:
    _, pathway = load("support-triage.yaml")
    start = pathway.start_node()
    assert start is not None
    branches = {edge.target for edge in pathway.edges_from(start.id)}
    assert branches == {"billing", "technical", "account", "general"}
    assert any(node.kind == "end" for node in pathway.nodes)


# The scripted model routes by word overlap, so the conditions must hold the words users say.

#: (what the user says, the node after the reply, the values an extraction reads out of it).
CONVERSATIONS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "restaurant-booking.yaml": [
        ("Hi, I'd like to book a table for Friday", "ask_name", {}),
        ("My name is Ana Lopez", "ask_party_size", {"customer_name": "Ana Lopez"}),
        ("We are 4 people", "ask_date", {"party_size": 4}),
        ("Friday at 8pm please", "confirm", {"booking_date": "Friday at 8pm"}),
        ("Oh wait, I need to change the number of people", "ask_party_size", {}),
        ("Sorry, 5 people", "ask_date", {"party_size": 5}),
        ("Still Friday at 8pm", "confirm", {}),
        ("Yes, that's right", "booked", {}),
    ],
    "appointment-rescheduling.yaml": [
        ("Hello, my name is Sam Lee and my email is sam@example.com", "current_appointment", {}),
        ("My current appointment is Monday at 9am", "ask_preference", {}),
        ("Mornings suit me best", "propose_slot", {}),
        ("That does not work for me, do you have another time?", "ask_preference", {}),
        ("Thursday mornings suit me too", "propose_slot", {}),
        ("Perfect, that works", "rescheduled", {}),
    ],
    "support-triage.yaml": [
        ("Hi, the app crashes every time I open it", "technical", {}),
        ("I updated it but the problem is still there, the fixes did not help", "open_ticket", {}),
        ("My account email is kim@example.com and the app crashes on open", "ticket_opened", {}),
    ],
}


async def walk(
    agent: AgentConfig, pathway: Pathway, messages: list[tuple[str, str, dict[str, Any]]]
) -> list[str]:
    """Where the engine (smart mode) takes each message: the scripted model decides by word
    overlap, the extraction reads the given values, expression edges do the rest."""
    start = pathway.start_node()
    assert start is not None
    state = session(start.id)
    history: list[Message] = []
    reached = []
    for said, _, values in messages:

        def structured(request: StructuredRequest, values: dict[str, Any] = values) -> dict[str, Any]:
            if request.purpose == "extract":
                return {key: values.get(key) for key in request.schema["properties"]}
            return default_structured(request)

        model = ScriptedModel(structured_answers=[structured] * 4)
        incoming = [Message(role="user", content=said)]
        turn_input = TurnInput(
            agent=agent.model_copy(update={"execution_mode": "smart"}),
            pathway=pathway,
            session=state,
            history=history,
            incoming=incoming,
            now=NOW,
        )
        outcome = [e async for e in run_turn(turn_input, model)][-1].outcome  # type: ignore[union-attr]
        history = [*history, *incoming, Message(role="assistant", content=outcome.text)]
        state = replace(
            state, current_node_id=outcome.node_after, visited=outcome.visited, extracted=outcome.extracted
        )
        reached.append(outcome.node_after)
    return reached


@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
async def test_the_engine_can_follow_an_example(name: str) -> None:
    agent, pathway = load(name)
    messages = CONVERSATIONS[name]
    assert await walk(agent, pathway, messages) == [expected for _, expected, _ in messages]


@pytest.mark.parametrize(
    ("name", "at", "said", "expected"),
    [
        ("restaurant-booking.yaml", "ask_date", "Can I talk to a human please?", "talk_to_human"),
        ("restaurant-booking.yaml", "greeting", "What are your opening hours?", "answer_question"),
        ("support-triage.yaml", "triage", "I was charged twice, there is a problem with a charge", "billing"),
        ("support-triage.yaml", "triage", "I cannot log in, the password reset never came", "account"),
        ("support-triage.yaml", "triage", "I have a feature question", "general"),
        ("appointment-rescheduling.yaml", "greeting", "I want to cancel my appointment", "other_request"),
        (
            "appointment-rescheduling.yaml",
            "propose_slot",
            "Could someone call me back?",
            "front_desk_follow_up",
        ),
    ],
)
def test_the_branches_are_reachable_in_plain_words(name: str, at: str, said: str, expected: str) -> None:
    _, pathway = load(name)
    assert best_option(said, transition_candidates(pathway, pathway.node_by_id[at])) == expected

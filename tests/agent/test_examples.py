"""The agents in examples/: valid, written in canonical form, exact round trips, and they route."""

from __future__ import annotations

import json
from pathlib import Path

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
from pathweaver.llm.scripted import best_option

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

CONVERSATIONS = {
    "restaurant-booking.yaml": [
        ("Hi, I'd like to book a table for Friday", "ask_name"),
        ("My name is Ana Lopez", "ask_party_size"),
        ("We are 4 people", "ask_date"),
        ("Friday at 8pm please", "confirm"),
        ("Oh wait, I need to change the number of people", "ask_party_size"),
        ("Sorry, 5 people", "ask_date"),
        ("Still Friday at 8pm", "confirm"),
        ("Yes, that's right", "booked"),
    ],
    "appointment-rescheduling.yaml": [
        ("Hello, my name is Sam Lee and my email is sam@example.com", "current_appointment"),
        ("My current appointment is Monday at 9am", "ask_preference"),
        ("Mornings suit me best", "propose_slot"),
        ("That does not work for me, do you have another time?", "ask_preference"),
        ("Thursday mornings suit me too", "propose_slot"),
        ("Perfect, that works", "rescheduled"),
    ],
    "support-triage.yaml": [
        ("Hi, the app crashes every time I open it", "technical"),
        ("I updated it but the problem is still there, the fixes did not help", "open_ticket"),
        ("My account email is kim@example.com and the app crashes on open", "ticket_opened"),
    ],
}


def walk(pathway: Pathway, messages: list[tuple[str, str]]) -> list[str]:
    """Where the scripted model's transition choice takes each message (gotos resolved)."""
    start = pathway.start_node()
    assert start is not None
    current, visited = start, []
    for said, _ in messages:
        choice = best_option(said, transition_candidates(pathway, current))
        if choice is not None:
            current = pathway.node_by_id[choice]
            while current.kind == "goto" and current.data.reference_node_id is not None:
                current = pathway.node_by_id[current.data.reference_node_id]
        visited.append(current.id)
    return visited


@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
def test_the_scripted_model_can_follow_an_example(name: str) -> None:
    _, pathway = load(name)
    messages = CONVERSATIONS[name]
    assert walk(pathway, messages) == [expected for _, expected in messages]


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

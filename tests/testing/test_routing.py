"""The routing check: paraphrases per option, the engine's decision on each, and the cache."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pathweaver.agent.files import read_agent_file
from pathweaver.errors import NotFound, UserError
from pathweaver.llm.base import StructuredRequest
from pathweaver.llm.scripted import ScriptedModel, default_structured
from pathweaver.testing.routing import INVALID, STAY, RoutingCache, check_routing
from tests.testing.conftest import EXAMPLES

AGENT, PATHWAY = read_agent_file(EXAMPLES / "restaurant-booking.yaml")

#: Positives and near misses per condition; words the scripted model's overlap routing reads.
PARAPHRASES = {
    "The user wants to book a table or make a reservation": (
        ["Can I book a table for Friday?", "I'd like to make a reservation"],
        ["Do you have a table by the window?", "What time do you open?"],
    ),
    "The user asks a question about the restaurant: opening hours, the menu, the address, parking or prices": (
        ["What are your opening hours?", "Is there parking nearby?"],
        ["I want a reservation", "hello"],
    ),
    "The user does not need anything, or says goodbye": (
        ["No thanks, goodbye", "That's all, bye"],
        ["Good morning", "Thanks for the menu, what about parking?"],
    ),
}


def paraphraser(request: StructuredRequest) -> Mapping[str, Any]:
    if request.purpose == "decide":  # the engine's decision (smart mode): word overlap
        return default_structured(request)
    condition = (request.messages[1].content or "").removeprefix("Condition: ")
    positives, negatives = PARAPHRASES.get(
        condition,
        (
            ["talk to a human please", "can I speak to the manager"],
            ["the weather is nice", "what a lovely day"],
        ),
    )
    return {"positives": positives, "negatives": negatives}


def model() -> ScriptedModel:
    return ScriptedModel(structured_answers=[paraphraser] * 40)


async def test_accuracy_per_option_and_a_confusion_matrix(tmp_path: Path) -> None:
    cache = RoutingCache.in_dir(tmp_path)
    scripted = model()
    report = await check_routing(scripted, AGENT, PATHWAY, "greeting", cache, per_option=2)
    assert report.labels == ["ask_name", "answer_question", "farewell", "talk_to_human"]
    assert len(report.probes) == 16
    assert report.model_calls == 4 + 16 == scripted.count()
    decisions = [call for call in scripted.calls if call.purpose == "decide"]
    # The engine's own decision, asked as the engine asks it in the agent's mode (smart).
    assert isinstance(decisions[0], StructuredRequest) and decisions[0].options[0] == "None of them"
    assert "## Current step: Greeting" in (decisions[0].messages[0].content or "")

    rows = {row["target"]: row for row in report.accuracy()}
    assert rows["ask_name"]["positivesRouted"] == 2 and rows["ask_name"]["positives"] == 2
    matrix = report.matrix()
    assert set(matrix["ask_name"]) == {
        "ask_name",
        "answer_question",
        "farewell",
        "talk_to_human",
        STAY,
        INVALID,
    }
    assert sum(matrix["farewell"].values()) == 2
    text = report.text()
    assert 'Routing check of node "greeting" with scripted (16 probes, 20 model calls)' in text
    assert "Positives (rows: meant, columns: chosen)" in text
    data = report.to_json()
    assert data["modelCalls"] == 20 and len(data["probes"]) == 16
    assert {"text", "option", "positive", "chosen", "correct"} == set(data["probes"][0])


async def test_a_rerun_after_no_edit_makes_no_model_call(tmp_path: Path) -> None:
    first = await check_routing(
        model(), AGENT, PATHWAY, "greeting", RoutingCache.in_dir(tmp_path), per_option=2
    )
    again_model = model()
    again = await check_routing(
        again_model, AGENT, PATHWAY, "greeting", RoutingCache.in_dir(tmp_path), per_option=2
    )
    assert again.model_calls == 0 and again_model.count() == 0
    assert again.probes == first.probes


async def test_an_edited_prompt_reasks_the_decisions_but_keeps_the_paraphrases(tmp_path: Path) -> None:
    await check_routing(model(), AGENT, PATHWAY, "greeting", RoutingCache.in_dir(tmp_path), per_option=2)
    document = PATHWAY.to_json()
    document["nodes"][0]["data"]["prompt"] = "Greet the caller warmly."
    edited = PATHWAY.model_validate(document)
    scripted = model()
    report = await check_routing(
        scripted, AGENT, edited, "greeting", RoutingCache.in_dir(tmp_path), per_option=2
    )
    assert scripted.count("paraphrase") == 0
    assert scripted.count("decide") == 16 == report.model_calls


async def test_paraphrases_out_of_format_are_reported_per_option(tmp_path: Path) -> None:
    scripted = ScriptedModel()  # its built-in structured answer leaves the lists null
    report = await check_routing(
        scripted, AGENT, PATHWAY, "ask_date", RoutingCache.in_dir(tmp_path), per_option=2
    )
    assert report.probes == ()
    assert all(option.error for option in report.options)
    assert (
        report.options[0].error == "no paraphrases: the model's positives are not a list of messages (None)"
    )
    assert report.exit_code == 1
    cache = RoutingCache.in_dir(tmp_path)
    assert cache.paraphrases == {}  # failures are not cached


async def test_an_unknown_node_or_one_without_options(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match='no node "nope"'):
        await check_routing(model(), AGENT, PATHWAY, "nope", RoutingCache.in_dir(tmp_path))
    with pytest.raises(UserError, match='node "booked" offers no transition'):
        await check_routing(model(), AGENT, PATHWAY, "booked", RoutingCache.in_dir(tmp_path))

"""Replaying recorded user turns against a changed pathway: which routing decisions changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pathweaver.agent.pathway import Pathway
from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.testing.cases import parse_case
from pathweaver.testing.replay import conversation_records, replay_user_turns
from pathweaver.testing.runner import Runner, temporary_project
from tests.testing.conftest import AGENT, PATHWAY, conversations

CASE = parse_case(
    {
        "name": "books a table",
        "variables": {"tier": "gold"},
        "turns": [{"user": "I want to book a table"}, {"user": "My name is Ann Lee"}],
    }
)


def edited(**conditions: str) -> Pathway:
    document = PATHWAY.to_json()
    for edge in document["edges"]:
        if edge["id"] in conditions:
            edge["data"]["condition"] = conditions[edge["id"]]
    return Pathway.model_validate(document)


async def recorded(project: Any) -> list[dict[str, Any]]:
    run = await Runner(conversations(project, ScriptedModel())).run(project[1], [CASE])
    return conversation_records(run)


async def test_the_records_keep_the_user_turns_and_decisions(project: Any) -> None:
    (record,) = await recorded(project)
    assert record["case"] == "books a table" and record["variables"] == {"tier": "gold"}
    assert record["turns"][0] == {
        "turn": 1,
        "user": "I want to book a table",
        "nodeBefore": "greeting",
        "nodeAfter": "ask_name",
        "transitions": [["greeting", "ask_name", "chosen"]],
        "ended": False,
    }


async def test_nothing_changed(project: Any, settings: Settings, tmp_path: Path) -> None:
    records = await recorded(project)
    async with temporary_project(
        AGENT, PATHWAY, settings.model_copy(update={"data_dir": tmp_path / "b"})
    ) as fresh:
        diff = await replay_user_turns(conversations(fresh, ScriptedModel()), fresh[1], records)
    assert (diff.cases, diff.turns, diff.changes, diff.exit_code) == (1, 2, (), 0)
    assert diff.text() == "2 recorded turns in 1 cases replayed: 0 routing decisions changed\n"


async def test_a_reworded_condition_changes_the_routing(
    project: Any, settings: Settings, tmp_path: Path
) -> None:
    records = await recorded(project)
    changed = edited(e1="The user asks about parking")
    model = ScriptedModel()
    async with temporary_project(
        AGENT, changed, settings.model_copy(update={"data_dir": tmp_path / "b"})
    ) as fresh:
        diff = await replay_user_turns(conversations(fresh, model), fresh[1], records)
    assert diff.exit_code == 1
    first, second = diff.changes
    assert first.describe() == (
        "books a table, turn 1 ('I want to book a table'): was greeting -> ask_name, at ask_name; "
        "now stayed at greeting, at greeting"
    )
    assert second.describe() == (
        "books a table, turn 2 ('My name is Ann Lee'): was ask_name -> done, at done, ended; "
        "now stayed at greeting, at greeting"
    )
    assert diff.to_json()["changed"] == 2
    assert "CHANGED books a table, turn 1" in diff.text()


async def test_a_conversation_that_now_ends_early(project: Any, settings: Settings, tmp_path: Path) -> None:
    records = await recorded(project)
    document = PATHWAY.to_json()
    document["edges"][0]["target"] = "done"
    early = Pathway.model_validate(document)
    async with temporary_project(
        AGENT, early, settings.model_copy(update={"data_dir": tmp_path / "b"})
    ) as fresh:
        diff = await replay_user_turns(conversations(fresh, ScriptedModel()), fresh[1], records)
    first, second = diff.changes
    assert first.now is not None and first.now["ended"] is True
    assert second.now is None
    assert second.describe().endswith("not reached (the session ended)")

"""An agent edit and a pathway edit at the same time (issue 20, defect 9; issue 21): each is
checked against the other's committed state, whichever runs first.

The agent drops the variable ``party`` while the pathway starts using it. Each edit alone is
valid; together they leave a pathway that names a variable the agent does not declare. That
is saved (switching variables takes two saves, in either order) with a warning, and the
warning must come with the edit that comes second: the one that sees the other's result. The
first edit's read of the pathway is held for a moment so that the second one arrives while
the first is in flight.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.pathway import Pathway, default_pathway
from pathweaver.agent.validation import validate_pathway
from pathweaver.store.projects import PathwayVersion, ProjectStore
from pathweaver.store.store import Store
from tests.conftest import make_project

HELD = 0.3


def with_party(pathway: Pathway) -> dict[str, Any]:
    document = pathway.to_json()
    document["nodes"][0]["data"]["variableKeys"] = ["party"]
    return document


def hold_first_pathway_read(store: Store, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Make the first read of the pathway (by whichever edit comes first) take ``HELD`` s."""
    projects = store.projects
    original = ProjectStore._get_pathway
    started = asyncio.Event()

    async def slow(self: ProjectStore, conn: Any, project_id: str, version: int | None) -> PathwayVersion:
        found = await original(self, conn, project_id, version)
        if not started.is_set():
            started.set()
            await asyncio.sleep(HELD)
        return found

    monkeypatch.setattr(projects, "_get_pathway", slow.__get__(projects))
    return started


@pytest.mark.parametrize("first", ["agent", "pathway"])
async def test_concurrent_agent_and_pathway_edits_warn_in_the_second_answer(
    client: httpx.AsyncClient, store: Store, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    agent = AgentConfig.model_validate({"variableConfigs": [{"key": "party", "type": "number"}]})
    project = await make_project(store, agent=agent, pathway=default_pathway())
    v1 = f"/v1/projects/{project.id}"

    def drop_variable() -> Any:
        return client.patch(f"{v1}/agent", json={"variableConfigs": []}, headers=project.auth)

    def use_variable() -> Any:
        return client.put(f"{v1}/pathway", json=with_party(default_pathway()), headers=project.auth)

    started = hold_first_pathway_read(store, monkeypatch)
    one, other = (drop_variable, use_variable) if first == "agent" else (use_variable, drop_variable)
    first_edit = asyncio.create_task(one())
    await asyncio.wait_for(started.wait(), 5)
    second = await other()
    answers = {
        first: (await first_edit).status_code,
        "agent" if first == "pathway" else "pathway": second.status_code,
    }

    assert answers == {"agent": 200, "pathway": 200}
    second_body = second.json()
    warnings = second_body.get("warnings") or second_body["data"].get("warnings") or []
    assert [(w["code"], w["nodeId"]) for w in warnings] == [("unknown_variable_key", "start")]
    assert '"party"' in warnings[0]["message"]
    stored_agent = (await store.projects.get_agent(project.id)).config
    stored_pathway = Pathway.model_validate((await store.projects.get_pathway(project.id)).document)
    report = validate_pathway(stored_pathway, stored_agent)
    assert not report.errors
    assert [w.code for w in report.warnings] == ["unknown_variable_key"]
    # And the pathway can still be edited.
    again = await client.put(f"{v1}/pathway", json=default_pathway().to_json(), headers=project.auth)
    assert again.status_code == 200, again.text

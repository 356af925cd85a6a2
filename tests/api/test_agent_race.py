"""An agent edit and a pathway edit at the same time cannot break the pathway (issue 20,
defect 9): each checks itself against the other's committed state, whichever runs first.

The agent drops the variable ``party`` while the pathway starts using it. Each edit alone is
valid; together they would leave a pathway that uses a variable the agent does not define
(and every later pathway edit refused). The first edit's read of the pathway is held for a
moment so that the second one arrives while the first is in flight.
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
async def test_concurrent_agent_and_pathway_edits_keep_the_pathway_valid(
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

    assert sorted(answers.values()) == [200, 400], f"both edits went through: {answers}"
    assert answers[first] == 200, "the edit that came first wins"
    stored_agent = (await store.projects.get_agent(project.id)).config
    stored_pathway = Pathway.model_validate((await store.projects.get_pathway(project.id)).document)
    assert not validate_pathway(stored_pathway, stored_agent).errors
    # And the pathway can still be edited.
    again = await client.put(f"{v1}/pathway", json=default_pathway().to_json(), headers=project.auth)
    assert again.status_code == 200, again.text

"""What a pathway save holds to beyond validation (issue 20): size limits named in a 400,
tools the project does not have as warnings, and the work done off the event loop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from pathweaver.api.app import create_app
from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.conftest import Project, make_project, served


def url(project: Project, path: str) -> str:
    return f"/v1/projects/{project.id}{path}"


def step(node_id: str, kind: str = "prompt", **data: Any) -> dict[str, Any]:
    return {"id": node_id, "data": {"type": kind, "title": node_id, "prompt": "p", **data}}


def fan_out(count: int) -> dict[str, Any]:
    """A start node with ``count`` edges out, each to its own node, each node to the end."""
    nodes = [step("start", "start"), step("end", "end"), *(step(f"t{i}") for i in range(count))]
    edges = [
        {"id": f"s{i}", "source": "start", "target": f"t{i}", "condition": f"option {i}"}
        for i in range(count)
    ]
    edges += [{"id": f"e{i}", "source": f"t{i}", "target": "end", "condition": "done"} for i in range(count)]
    return {"nodes": nodes, "edges": edges}


async def test_edges_out_of_one_node_are_limited(client: httpx.AsyncClient, project: Project) -> None:
    accepted = await client.put(url(project, "/pathway"), json=fan_out(200), headers=project.auth)
    assert accepted.status_code == 200, accepted.text[:300]
    refused = await client.put(url(project, "/pathway"), json=fan_out(201), headers=project.auth)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["message"].startswith('node "start" has 201 edges out; at most 200 are allowed')
    assert error["details"]["errors"][0]["code"] == "too_many_edges_from_node"
    one_more = await client.post(
        url(project, "/pathway/edges"),
        json={"source": "start", "target": "end", "condition": "x"},
        headers=project.auth,
    )
    assert one_more.status_code == 400 and "at most 200 are allowed" in one_more.json()["error"]["message"]


async def test_nodes_and_bytes_are_limited(settings: Settings, store: Store, model: ScriptedModel) -> None:
    project = await make_project(store)
    smaller = settings.model_copy(update={"max_pathway_nodes": 10, "max_pathway_bytes": 2_000})
    async with served(create_app(smaller, store=store, model=model)) as client:
        many = {"nodes": [step("start", "start"), *(step(f"n{i}") for i in range(10))], "edges": []}
        refused = await client.put(url(project, "/pathway"), json=many, headers=project.auth)
        assert refused.status_code == 400
        message = refused.json()["error"]["message"]
        assert message.startswith("the pathway has 11 nodes; at most 10 are allowed")
        assert "PATHWEAVER_MAX_PATHWAY_NODES" in message  # where the server's limit is set
        wordy = {"nodes": [step("start", "start", prompt="x" * 3_000)], "edges": []}
        refused = await client.put(url(project, "/pathway"), json=wordy, headers=project.auth)
        assert refused.status_code == 400
        assert "bytes of JSON; at most 2,000 are allowed" in refused.json()["error"]["message"]
    wider = settings.model_copy(update={"max_pathway_edges_per_node": 300})
    async with served(create_app(wider, store=store, model=model)) as client:
        accepted = await client.put(url(project, "/pathway"), json=fan_out(250), headers=project.auth)
        assert accepted.status_code == 200, accepted.text[:300]


async def test_a_tool_the_project_does_not_have_is_a_warning(
    client: httpx.AsyncClient, project: Project
) -> None:
    body = {
        "nodes": [step("start", "start", tools=["tool_gone", "end_call"]), step("end", "end")],
        "edges": [{"id": "e", "source": "start", "target": "end", "condition": "done"}],
    }
    saved = await client.put(url(project, "/pathway"), json=body, headers=project.auth)
    assert saved.status_code == 200, saved.text
    warnings = [w for w in saved.json()["data"]["warnings"] if w["code"] == "unknown_tool"]
    assert len(warnings) == 1 and warnings[0]["field"] == "nodes[0].data.tools[0]"
    assert (
        '"tool_gone", which is not a tool of this project, so the node runs without it'
        in warnings[0]["message"]
    )


async def test_a_deleted_tool_still_listed_is_a_warning(client: httpx.AsyncClient, project: Project) -> None:
    tool = (
        await client.post(
            url(project, "/tools"),
            json={"type": "restful", "metadata": {"url": "https://x.example/a"}},
            headers=project.auth,
        )
    ).json()["data"]
    patched = await client.patch(
        url(project, "/pathway/nodes/start"), json={"data": {"tools": [tool["id"]]}}, headers=project.auth
    )
    assert patched.status_code == 200, patched.text
    deleted = await client.delete(url(project, f"/tools/{tool['id']}"), headers=project.auth)
    assert deleted.status_code == 200
    answer = deleted.json()
    assert answer["data"] == {"id": tool["id"], "deleted": True}
    assert [(w["code"], w["nodeId"], w["field"]) for w in answer["warnings"]] == [
        ("unknown_tool", "start", "nodes[0].data.tools[0]")
    ]


async def test_a_save_is_checked_off_the_event_loop(
    client: httpx.AsyncClient, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pathweaver.api.management

    checked = pathweaver.api.management.ensure_valid

    def slow_check(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.5)  # a big pathway's parse and checks
        return checked(*args, **kwargs)

    monkeypatch.setattr(pathweaver.api.management, "ensure_valid", slow_check)
    done: list[str] = []
    waited: list[float] = []

    async def save() -> None:
        node = {
            "id": "n",
            "position": {"x": 0, "y": 0},
            "data": {"type": "prompt", "title": "N", "prompt": "p"},
        }
        response = await client.post(url(project, "/pathway/nodes"), json=node, headers=project.auth)
        assert response.status_code == 201, response.text
        done.append("save")

    async def other() -> None:
        await asyncio.sleep(0.1)
        await client.get(url(project, "/agent"), headers=project.auth)
        waited.append(time.perf_counter() - began)
        done.append("other")

    began = time.perf_counter()
    await asyncio.gather(save(), other())
    # Held up by the 1.5 s it would have waited past 1.5 s; 0.2 s on a quiet machine, and
    # once 1.03 s when the whole suite ran on two busy cores.
    assert done == ["other", "save"] and waited[0] < 1.4, waited

"""Saves that cannot lose an edit (issue 21 item 5, issue 24 item 2): a PUT that names the
version it was based on is refused once another save has followed it, and a save that
changes nothing makes no version."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from pathweaver.store.store import Store
from tests.api.test_agent_race import hold_first_pathway_read
from tests.conftest import Project


def url(project: Project, path: str) -> str:
    return f"/v1/projects/{project.id}{path}"


async def current(client: httpx.AsyncClient, project: Project) -> dict[str, Any]:
    answer = await client.get(url(project, "/pathway"), headers=project.auth)
    data: dict[str, Any] = answer.json()["data"]
    return data


async def versions(client: httpx.AsyncClient, project: Project) -> list[int]:
    answer = await client.get(url(project, "/pathway/versions"), headers=project.auth)
    return [v["version"] for v in answer.json()["data"]]


def retitled(pathway: dict[str, Any], title: str, **extra: Any) -> dict[str, Any]:
    """``pathway`` (as GET answers it) with the start node's title changed."""
    nodes = [
        {**n, "data": {**n["data"], "title": title}} if n["data"]["type"] == "start" else n
        for n in pathway["nodes"]
    ]
    return {"nodes": nodes, "edges": pathway["edges"], **extra}


async def test_a_save_based_on_the_current_version_is_stored(client, project: Project) -> None:
    base = await current(client, project)
    saved = await client.put(
        url(project, "/pathway"), json=retitled(base, "Hello", version=1), headers=project.auth
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["data"]["version"] == 2
    # What GET answered, edited and sent back whole (version and updatedAt included).
    again = {**saved.json()["data"], "nodes": retitled(saved.json()["data"], "Hi")["nodes"]}
    assert (await client.put(url(project, "/pathway"), json=again, headers=project.auth)).status_code == 200
    assert await versions(client, project) == [3, 2, 1]


async def test_a_stale_save_is_409_and_stores_nothing(client, project: Project) -> None:
    base = await current(client, project)
    first = await client.put(
        url(project, "/pathway"), json=retitled(base, "Mine", version=1), headers=project.auth
    )
    assert first.status_code == 200
    stale = await client.put(
        url(project, "/pathway"), json=retitled(base, "Yours", version=1), headers=project.auth
    )
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "pathway_version_conflict"
    assert error["message"].startswith("the pathway changed since version 1: version 2 is current (saved by ")
    assert "reload it, apply your edits to it again and save" in error["message"]
    details = error["details"]
    assert details["basedOn"] == 1 and details["currentVersion"] == 2 and details["note"] == "replaced"
    assert details["author"] and details["savedAt"] == first.json()["data"]["updatedAt"]
    assert await versions(client, project) == [2, 1]
    assert [n["data"]["title"] for n in (await current(client, project))["nodes"]][0] == "Mine"
    # A version the project never had is refused the same way.
    ahead = await client.put(
        url(project, "/pathway"), json=retitled(base, "Yours", version=7), headers=project.auth
    )
    assert ahead.status_code == 409
    assert ahead.json()["error"]["message"].startswith("the pathway has no version 7: version 2 is current")


async def test_a_save_without_a_version_is_not_checked(client, project: Project) -> None:
    base = await current(client, project)
    for title in ("One", "Two"):
        saved = await client.put(url(project, "/pathway"), json=retitled(base, title), headers=project.auth)
        assert saved.status_code == 200, saved.text
    nulled = await client.put(
        url(project, "/pathway"), json=retitled(base, "Three", version=None), headers=project.auth
    )
    assert nulled.status_code == 200, nulled.text
    assert await versions(client, project) == [4, 3, 2, 1]


async def test_a_pathors_format_version_text_is_not_checked(client, project: Project) -> None:
    """Pathors' pathway documents carry ``"version": "1.0"`` (a format version): a Pathors
    client sending its document back keeps saving, without the check."""
    base = await current(client, project)
    saved = await client.put(
        url(project, "/pathway"), json=retitled(base, "From Pathors", version="1.0"), headers=project.auth
    )
    assert saved.status_code == 200, saved.text
    assert await versions(client, project) == [2, 1]


@pytest.mark.parametrize("version", [0, -1, 1.5, True, [1], {"v": 1}])
async def test_a_version_that_is_not_a_positive_integer_is_400(
    client, project: Project, version: Any
) -> None:
    base = await current(client, project)
    refused = await client.put(
        url(project, "/pathway"), json=retitled(base, "X", version=version), headers=project.auth
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["message"].startswith("version must be the positive integer version your edit is based on")
    assert error["details"] == {"param": "version"}
    assert await versions(client, project) == [1]


async def test_concurrent_saves_on_one_version_store_exactly_one(
    client, project: Project, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = await current(client, project)
    # The first save to take the project holds it a moment, so the others arrive meanwhile.
    hold_first_pathway_read(store, monkeypatch)
    answers = await asyncio.gather(
        *(
            client.put(
                url(project, "/pathway"), json=retitled(base, f"Tab {i}", version=1), headers=project.auth
            )
            for i in range(3)
        )
    )
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200, 409, 409], [a.text[:200] for a in answers]
    winner = next(answer for answer in answers if answer.status_code == 200).json()["data"]
    assert winner["version"] == 2
    assert await versions(client, project) == [2, 1]
    assert (await current(client, project))["nodes"] == winner["nodes"]


async def test_an_unchanged_save_makes_no_version(client, project: Project) -> None:
    base = await current(client, project)
    for body in (base, {"nodes": base["nodes"], "edges": base["edges"]}):
        same = await client.put(url(project, "/pathway"), json=body, headers=project.auth)
        assert same.status_code == 200, same.text
        assert same.json()["data"]["version"] == 1
        assert same.json()["data"]["updatedAt"] == base["updatedAt"]
        assert "warnings" in same.json()["data"]
    assert await versions(client, project) == [1]
    # Not a new version, so a tab still editing version 1 can save.
    edited = await client.put(
        url(project, "/pathway"), json=retitled(base, "New", version=1), headers=project.auth
    )
    assert edited.status_code == 200 and edited.json()["data"]["version"] == 2


async def test_node_edge_and_rollback_routes_that_change_nothing_make_no_version(
    client, project: Project
) -> None:
    base = await current(client, project)
    start = next(n for n in base["nodes"] if n["data"]["type"] == "start")
    edge = base["edges"][0]
    node_patch = await client.patch(
        url(project, f"/pathway/nodes/{start['id']}"),
        json={"data": {"title": start["data"]["title"]}},
        headers=project.auth,
    )
    assert node_patch.status_code == 200 and node_patch.json()["data"] == start
    edge_patch = await client.patch(
        url(project, f"/pathway/edges/{edge['id']}"),
        json={"condition": edge["data"]["condition"]},
        headers=project.auth,
    )
    assert edge_patch.status_code == 200 and edge_patch.json()["data"] == edge
    rolled = await client.post(
        url(project, "/pathway/rollback"), json={"targetVersion": 1}, headers=project.auth
    )
    assert rolled.status_code == 200 and rolled.json()["data"]["version"] == 1
    assert await versions(client, project) == [1]
    # A PATCH that does change something still makes one.
    moved = await client.patch(
        url(project, f"/pathway/nodes/{start['id']}"), json={"data": {"title": "Moved"}}, headers=project.auth
    )
    assert moved.status_code == 200
    assert await versions(client, project) == [2, 1]

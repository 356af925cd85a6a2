"""Ids a client chooses: whatever the API accepts when it creates something, it can address later.

Found by schemathesis' stateful phase (``ensure_resource_availability``: "Created resource
not found"), shown here deterministically.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from pathweaver.agent.pathway import Pathway
from pathweaver.store.store import Store
from tests.conftest import Project, make_project

#: Ids a URL path cannot carry as one segment: created, they could never be read back.
UNADDRESSABLE = ["a/b", "..", "."]


def create(kind: str, chosen: str) -> tuple[str, dict[str, object], str]:
    """(route that creates, body, route that reads) for a resource of ``kind`` named ``chosen``."""
    segment = quote(chosen, safe="")
    match kind:
        case "session":
            return "/sessions", {"session_id": chosen}, f"/sessions/{segment}"
        case "conversation":
            return "/conversations", {"sessionId": chosen}, f"/conversations/{segment}"
        case "node":
            data = {"type": "prompt", "title": "t", "prompt": "p"}
            return (
                "/pathway/nodes",
                {"id": chosen, "position": {"x": 0, "y": 0}, "data": data},
                f"/pathway/nodes/{segment}",
            )
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["session", "conversation", "node"])
@pytest.mark.parametrize("chosen", UNADDRESSABLE)
async def test_a_created_id_can_be_read_back(
    client: httpx.AsyncClient, project: Project, kind: str, chosen: str
) -> None:
    base = f"/v1/projects/{project.id}"
    route, body, path = create(kind, chosen)
    created = await client.post(base + route, json=body, headers=project.auth)
    if created.status_code >= 400:
        assert created.status_code in (400, 422), created.text  # refused at creation: fine
        return
    read = await client.get(base + path, headers=project.auth)
    assert read.status_code == 200, (read.status_code, read.text[:200])
    answer = read.json()
    named = (
        answer.get("sessionId")
        if kind == "session"
        else (answer.get("data") or {}).get("sessionId" if kind == "conversation" else "id")
    )
    assert named == chosen, read.text[:200]  # this resource, not another route's answer


def slashed_pathway() -> Pathway:
    """A pathway stored before ids with "/" were refused: node "ask/name", edge "e/1"."""
    prompt = {"title": "t", "prompt": "p"}
    return Pathway.model_validate(
        {
            "nodes": [
                {"id": "start", "data": {"type": "start", **prompt}},
                {"id": "ask/name", "data": {"type": "prompt", **prompt}},
                {"id": "end", "data": {"type": "end", **prompt}},
            ],
            "edges": [
                {"id": "e/1", "source": "start", "target": "ask/name", "data": {"condition": "ready"}},
                {"id": "e2", "source": "ask/name", "target": "end", "data": {"condition": "done"}},
            ],
        }
    )


@pytest.mark.parametrize("spelled", ["ask/name", "ask%2Fname"])
async def test_stored_ids_with_a_slash_stay_addressable(
    client: httpx.AsyncClient, store: Store, spelled: str
) -> None:
    project = await make_project(store, "slashed", pathway=slashed_pathway())
    base = f"/v1/projects/{project.id}/pathway"
    read = await client.get(f"{base}/nodes/{spelled}", headers=project.auth)
    assert read.status_code == 200 and read.json()["data"]["id"] == "ask/name", read.text
    patched = await client.patch(
        f"{base}/nodes/{spelled}", json={"data": {"prompt": "Ask the name."}}, headers=project.auth
    )
    assert patched.status_code == 200, patched.text
    edge = await client.patch(
        f"{base}/edges/{spelled.replace('ask', 'e').replace('name', '1')}",
        json={"condition": "the user is ready"},
        headers=project.auth,
    )
    assert edge.status_code == 200 and edge.json()["data"]["id"] == "e/1", edge.text
    # A made-up edge id never holds the "/" of its ends.
    made = await client.post(
        f"{base}/edges",
        json={"source": "ask/name", "target": "start", "condition": "back"},
        headers=project.auth,
    )
    assert made.status_code == 201 and "/" not in made.json()["data"]["id"], made.text
    deleted = await client.delete(f"{base}/nodes/{spelled}", headers=project.auth)
    assert deleted.status_code == 200 and deleted.json()["data"]["deletedEdges"] == 3


async def test_new_ids_with_a_slash_are_refused_when_saved(client: httpx.AsyncClient, store: Store) -> None:
    project = await make_project(store, "slashed", pathway=slashed_pathway())
    base = f"/v1/projects/{project.id}/pathway"
    document = (await client.get(base, headers=project.auth)).json()["data"]
    kept = await client.put(base, json=document, headers=project.auth)
    assert kept.status_code == 200, kept.text  # the stored ones stay
    document["nodes"].append({"id": "a/b", "data": {"type": "prompt", "title": "t", "prompt": "p"}})
    refused = await client.put(base, json=document, headers=project.auth)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["message"].startswith('node id "a/b": an id may not contain "/"')
    assert error["details"]["errors"][0]["field"] == "nodes[3].id"
    edge = await client.post(
        f"{base}/edges",
        json={"id": "x/y", "source": "start", "target": "end", "condition": "c"},
        headers=project.auth,
    )
    assert edge.status_code == 400 and 'may not contain "/"' in edge.json()["error"]["message"]

"""The agent, pathway, tool and webhook routes answer what ``/openapi.json`` declares.

Each route is called for real and its body validated against the schema the document
declares for it (``tests/documented.py``), with the variants that change the shape: empty
and non-empty lists, saved answers with and without warnings, nodes and edges holding only
some of their fields (and unknown ones), both tool types, a webhook check that finds one and
one that does not, deliveries pending and sent, on the v1 and the gen-1 paths.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import insert

from pathweaver.api.app import create_app
from pathweaver.config import LLMTarget, Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.schema import utcnow, webhook_attempts, webhook_deliveries
from pathweaver.store.store import Store
from tests.conftest import Project, served
from tests.documented import assert_documented

V1 = "/v1/projects/{projectId}"
LEGACY = "/project/{projectId}"


@pytest.fixture
async def targeted(
    settings: Settings, store: Store, model: ScriptedModel
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a named model target, so an unknown one is a warning (never called here)."""
    target = LLMTarget(base_url="http://127.0.0.1:9/v1", model="fast")
    tuned = settings.model_copy(update={"fake_model": False, "llm_targets": {"fast": target}})
    async with served(create_app(tuned, store=store, model=model)) as http:
        yield http


async def call(
    client: httpx.AsyncClient, project: Project, method: str, template: str, json: object = None, **path: str
) -> httpx.Response:
    """Call ``template`` (the document's path) for ``project``, check the answer is a documented success."""
    url = template.format(projectId=project.id, **path)
    response = await client.request(method, url, json=json, headers=project.auth)
    assert response.status_code < 300, f"{method} {url}: {response.status_code} {response.text}"
    await assert_documented(client, method, template, response)
    return response


async def test_agent(client: httpx.AsyncClient, targeted: httpx.AsyncClient, project: Project) -> None:
    agent = (await call(client, project, "get", V1 + "/agent")).json()["data"]
    assert agent["model"] is None and agent["promptModules"] is None
    patched = await call(client, project, "patch", V1 + "/agent", {"firstMessage": "Hi."})
    assert "warnings" not in patched.json()
    full = {
        "globalPrompt": "You are Pat.",
        "promptModules": [{"name": "tone", "content": "Be brief."}],
        "variableConfigs": [{"key": "name", "type": "string"}],
        "placeholderMessages": {"en": ["One moment"]},
        "sessionVariables": ["caller"],
        "model": {"target": "nowhere"},
    }
    put = await call(targeted, project, "put", V1 + "/agent", full)
    assert put.json()["warnings"][0]["code"] == "unknown_model"
    assert put.json()["data"]["model"] == {"target": "nowhere", "name": None}


async def test_pathway_and_its_versions(
    client: httpx.AsyncClient, targeted: httpx.AsyncClient, project: Project
) -> None:
    fetched = (await call(client, project, "get", V1 + "/pathway")).json()["data"]
    assert "warnings" not in fetched
    sparse = {
        "layout": {"zoom": 1.5},
        "nodes": [
            {"id": "start", "data": {"type": "start", "title": "S", "prompt": "p", "color": "red"}},
            {
                "id": "island",
                "type": None,
                "position": {"x": 1.5},
                "data": {
                    "type": "prompt",
                    "title": None,
                    "label": "I",
                    "prompt": "p",
                    "model": {"target": "nowhere"},
                },
            },
        ],
        "edges": [{"id": "e", "source": "start", "target": "island", "condition": "Always"}],
    }
    saved = (await call(targeted, project, "put", V1 + "/pathway", sparse)).json()["data"]
    assert {"nodeId": "island", "field": "nodes[1].data.model"}.items() <= saved["warnings"][-1].items()
    assert "position" not in saved["nodes"][0] and saved["layout"] == {"zoom": 1.5}
    await call(client, project, "get", V1 + "/pathway")
    versions = (await call(client, project, "get", V1 + "/pathway/versions")).json()["data"]
    assert [v["version"] for v in versions] == [2, 1]
    await call(client, project, "get", V1 + "/pathway/version")
    rolled = await call(client, project, "post", V1 + "/pathway/rollback", {"targetVersion": 1})
    assert rolled.json()["data"]["warnings"] == []


async def test_nodes_and_edges(client: httpx.AsyncClient, project: Project) -> None:
    nodes = V1 + "/pathway/nodes"
    listed = (await call(client, project, "get", nodes)).json()["data"]
    assert [n["id"] for n in listed] == ["start", "end"]
    node = {
        "id": "ask",
        "position": {"x": 0, "y": 100},
        "data": {"type": "prompt", "title": "A", "prompt": "p"},
    }
    assert (await call(client, project, "post", nodes, node)).status_code == 201
    await call(client, project, "get", nodes + "/{nodeId}", nodeId="ask")
    patched = await call(
        client, project, "patch", nodes + "/{nodeId}", {"data": {"isGlobalNode": False}}, nodeId="ask"
    )
    assert patched.json()["data"]["data"]["isGlobalNode"] is False

    edges = V1 + "/pathway/edges"
    edge = {"source": "start", "target": "ask", "condition": "The user asks"}
    created = await call(client, project, "post", edges, edge)
    edge_id = created.json()["data"]["id"]
    await call(client, project, "patch", edges + "/{edgeId}", {"condition": "Asks"}, edgeId=edge_id)
    await call(client, project, "post", edges, {**edge, "id": "second", "target": "end"})
    await call(client, project, "delete", edges + "/{edgeId}", edgeId="second")
    deleted = await call(client, project, "delete", nodes + "/{nodeId}", nodeId="ask")
    assert deleted.json()["data"]["deletedEdges"] == 1


async def test_tools(client: httpx.AsyncClient, project: Project) -> None:
    tools = V1 + "/tools"
    assert (await call(client, project, "get", tools)).json()["data"] == []
    await call(client, project, "get", tools + "/types")
    restful = {
        "type": "restful",
        "metadata": {"url": "https://api.example.com/x", "method": "post", "body": {"q": "{{q}}"}},
        "placeholderMessages": {"messages": {"en": ["One moment"]}, "defaultLanguage": "en"},
    }
    made = await call(client, project, "post", tools, restful)
    assert made.status_code == 201
    tool_id = made.json()["data"]["id"]
    mcp = {"type": "mcp", "name": "remote", "metadata": {"serverUrl": "https://mcp.example.com/mcp"}}
    await call(client, project, "post", tools, mcp)
    await call(client, project, "get", tools + "/{toolId}", toolId=tool_id)
    update = {
        "placeholderMessages": {"messages": ["Hold on"]},
        "metadata": {"url": "https://api.example.com/y"},
    }
    await call(client, project, "put", tools + "/{toolId}", update, toolId=tool_id)
    assert len((await call(client, project, "get", tools)).json()["data"]) == 2
    await call(client, project, "delete", tools + "/{toolId}", toolId=tool_id)


async def test_webhooks(client: httpx.AsyncClient, store: Store, project: Project) -> None:
    hooks = V1 + "/webhooks"
    assert (await call(client, project, "get", hooks)).json()["data"] == []
    subscribed = await call(client, project, "post", hooks, {"url": "https://hooks.example.com/a"})
    await call(client, project, "post", LEGACY + "/webhooks", {"url": "https://hooks.example.com/b"})
    assert len((await call(client, project, "get", hooks)).json()["data"]) == 2
    for base in (V1, LEGACY):
        found = await call(
            client, project, "post", base + "/webhooks/check", {"url": "https://hooks.example.com/a"}
        )
        missing = await call(
            client, project, "post", base + "/webhooks/check", {"url": "https://x.example.com"}
        )
        assert found.json()["exists"] is True and missing.json() == {"exists": False}

    assert (await call(client, project, "get", hooks + "/deliveries")).json()["data"] == []
    later = utcnow() + timedelta(days=1)  # never due: the worker leaves them as they are
    async with store.engine.begin() as conn:
        for status, delivered in (("pending", None), ("delivered", utcnow())):
            row = await conn.execute(
                insert(webhook_deliveries).values(
                    project_id=project.id,
                    event="session.ended",
                    url="https://hooks.example.com/a",
                    headers={},
                    payload={"event": "session.ended"},
                    status=status,
                    attempts=1,
                    next_attempt_at=later,
                    last_error="HTTP 500" if delivered else None,
                    created_at=utcnow(),
                    delivered_at=delivered,
                )
            )
            (delivery_id,) = row.inserted_primary_key or ()
            if delivered:
                for attempt, code, error in ((1, None, "timed out"), (2, 200, None)):
                    await conn.execute(
                        insert(webhook_attempts).values(
                            delivery_id=delivery_id,
                            attempt=attempt,
                            status_code=code,
                            latency_ms=code and 12,
                            error=error,
                            created_at=utcnow(),
                        )
                    )
    log = (await call(client, project, "get", hooks + "/deliveries")).json()["data"]
    assert [len(d["attempts"]) for d in log] == [2, 0]

    await call(client, project, "get", hooks + "/secret")
    await call(client, project, "post", hooks + "/secret/rotate")
    webhook_id = subscribed.json()["id"]
    await call(client, project, "delete", hooks + "/{webhookId}", webhookId=webhook_id)
    other = (await call(client, project, "get", hooks)).json()["data"][0]["id"]
    await call(client, project, "delete", LEGACY + "/webhooks/{webhookId}", webhookId=other)

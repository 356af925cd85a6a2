"""The knowledge-base and conversation-test routes answer what ``/openapi.json`` declares.

Each route is called for real and its body validated against the schema the document
declares for it (``tests/documented.py``), with the variants that change the shape: empty
and non-empty lists, a dataset ready and one failed (``error`` null and not), a run
running and finished (its results with checks and transcripts), a lint with findings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pathweaver.agent.files import read_agent_file
from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.api_tools.conftest import app_client
from tests.conftest import Project, make_project
from tests.documented import assert_documented, document
from tests.knowledge.fakes import HashingEmbedder
from tests.knowledge.labelled import DATA
from tests.testing.conftest import EXAMPLES

KB = {"name": "Support", "type": "pgvector", "embeddingModelName": "text-embedding-3-small"}
BASES = "/v1/projects/{projectId}/knowledgebases"
PROJECT = "/v1/projects/{projectId}"
SCRIPTED = {
    "name": "books a table",
    "turns": [
        {"user": "I want to book a table or make a reservation", "expect": {"node": "ask_name"}},
        {"user": "My name is Ann Lee", "expect": {"variables": {"customer_name": "Ann Lee"}}},
        {"user": "Thanks"},
    ],
}
SIMULATED = {
    "name": "asks for the manager",
    "description": "A caller who wants someone in charge",
    "systemPrompt": "You want to talk to the manager.",
    "maxTurns": 1,
    "acceptanceCriteria": ["The agent offers a call back"],
}


@pytest.fixture
async def api(settings: Settings, store: Store, model: ScriptedModel) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the fast hashing embedder (retrieval quality is not what is tested here)."""
    async with app_client(settings, store, model, HashingEmbedder()) as http:
        yield http


async def settled(api: httpx.AsyncClient, project: Project, path: str, count: int) -> httpx.Response:
    """The dataset listing once ``count`` datasets are ready or failed."""
    for _ in range(2000):
        response = await api.get(path, headers=project.auth)
        if len(response.json()) == count and all(d["status"] in ("ready", "failed") for d in response.json()):
            return response
        await asyncio.sleep(0.01)
    raise AssertionError(f"the datasets did not settle: {response.text}")


async def test_knowledge_base_answers_are_documented(api: httpx.AsyncClient, project: Project) -> None:
    bases = f"/v1/projects/{project.id}/knowledgebases"
    auth = project.auth
    none = await api.get(bases, headers=auth)
    assert none.json() == []
    await assert_documented(api, "get", BASES, none)
    created = await api.post(bases, json=KB, headers=auth)
    assert created.status_code == 201
    await assert_documented(api, "post", BASES, created)
    one = await api.get(bases, headers=auth)
    assert len(one.json()) == 1
    await assert_documented(api, "get", BASES, one)

    prefix = f"{bases}/{created.json()['id']}"
    no_datasets = await api.get(f"{prefix}/datasets", headers=auth)
    assert no_datasets.json() == []
    await assert_documented(api, "get", BASES + "/{kbId}/datasets", no_datasets)
    nothing = await api.get(f"{prefix}/query", params={"q": "opening hours"}, headers=auth)
    assert nothing.json() == []
    await assert_documented(api, "get", BASES + "/{kbId}/query", nothing)

    text = (DATA / "restaurant.md").read_bytes()
    uploaded = await api.post(
        f"{prefix}/datasets", files={"dataset": ("restaurant.md", text, "text/markdown")}, headers=auth
    )
    assert uploaded.status_code == 200, uploaded.text
    await assert_documented(api, "post", BASES + "/{kbId}/datasets", uploaded)
    # The body is documented too (the handler reads the form itself), so the fuzzing sends files.
    body = (await document(api))["paths"][BASES + "/{kbId}/datasets"]["post"]["requestBody"]
    assert body["content"]["multipart/form-data"]["schema"]["required"] == ["dataset"]
    blank = await api.post(f"{prefix}/datasets", files={"dataset": ("blank.txt", b"  \n\n  ")}, headers=auth)
    assert blank.status_code == 200, blank.text
    datasets = await settled(api, project, f"{prefix}/datasets", 2)
    failed, ready = datasets.json()  # newest first
    assert (failed["status"], ready["status"]) == ("failed", "ready")
    assert failed["error"] and ready["error"] is None
    await assert_documented(api, "get", BASES + "/{kbId}/datasets", datasets)

    chunks_path = BASES + "/{kbId}/datasets/{datasetId}/chunks"
    chunks = await api.get(f"{prefix}/datasets/{ready['id']}/chunks", headers=auth)
    assert chunks.json()
    await assert_documented(api, "get", chunks_path, chunks)
    no_chunks = await api.get(f"{prefix}/datasets/{failed['id']}/chunks", headers=auth)
    assert no_chunks.json() == []
    await assert_documented(api, "get", chunks_path, no_chunks)
    found = await api.get(f"{prefix}/query", params={"q": "opening hours reservation"}, headers=auth)
    assert found.json()
    await assert_documented(api, "get", BASES + "/{kbId}/query", found)
    chunk = chunks.json()[0]["id"]
    patched = await api.patch(f"{prefix}/chunks/{chunk}", json={"isEnabled": False}, headers=auth)
    assert patched.json()["isEnabled"] is False
    await assert_documented(api, "patch", BASES + "/{kbId}/chunks/{chunkId}", patched)

    original = await api.get(ready["fileUrl"], headers=auth)
    assert original.status_code == 200 and original.content == text
    assert original.headers["content-type"].startswith("text/markdown")  # as the upload declared it
    assert original.headers["content-disposition"] == 'attachment; filename="restaurant.md"'
    declared = (await document(api))["paths"][BASES + "/{kbId}/datasets/{datasetId}/file"]["get"]
    assert declared["responses"]["200"]["content"] == {
        "*/*": {"schema": {"type": "string", "format": "binary"}}
    }
    assert declared["responses"]["200"]["headers"]["Content-Disposition"]["required"] is True

    deleted = await api.delete(f"{prefix}/datasets/{failed['id']}", headers=auth)
    assert deleted.json()["success"] is True
    await assert_documented(api, "delete", BASES + "/{kbId}/datasets/{datasetId}", deleted)


async def finished(client: httpx.AsyncClient, project: Project, run_id: str) -> httpx.Response:
    for _ in range(1000):
        response = await client.get(f"/v1/projects/{project.id}/test-runs/{run_id}", headers=project.auth)
        if response.json()["data"]["status"] != "running":
            return response
        await asyncio.sleep(0.01)
    raise AssertionError("the run did not finish")


async def test_conversation_test_answers_are_documented(client: httpx.AsyncClient, store: Store) -> None:
    agent, pathway = read_agent_file(EXAMPLES / "restaurant-booking.yaml")
    project = await make_project(store, "restaurant", agent, pathway)
    root, auth = f"/v1/projects/{project.id}", project.auth

    async def call(method: str, template: str, path: str, status: int, **kwargs: Any) -> dict[str, Any]:
        response = await client.request(method, root + path, headers=auth, **kwargs)
        assert response.status_code == status, response.text
        await assert_documented(client, method, PROJECT + template, response)
        body: dict[str, Any] = response.json()
        return body

    assert (await call("get", "/test-cases", "/test-cases", 200))["data"] == []
    scripted = (await call("post", "/test-cases", "/test-cases", 201, json=SCRIPTED))["data"]
    simulated = (await call("post", "/test-cases", "/test-cases", 201, json=SIMULATED))["data"]
    assert "maxTurns" in simulated and "description" not in scripted  # defaults are left out
    assert len((await call("get", "/test-cases", "/test-cases", 200))["data"]) == 2
    for case in (scripted, simulated):
        await call("get", "/test-cases/{caseId}", f"/test-cases/{case['id']}", 200)

    assert (await call("get", "/test-suites", "/test-suites", 200))["data"] == []
    body = {"name": "smoke", "testCaseIds": [scripted["id"], simulated["id"]]}
    suite = (await call("post", "/test-suites", "/test-suites", 201, json=body))["data"]
    assert len((await call("get", "/test-suites", "/test-suites", 200))["data"]) == 1
    await call("get", "/test-suites/{suiteId}", f"/test-suites/{suite['id']}", 200)

    runs = f"/test-suites/{suite['id']}/runs"
    assert (await call("get", "/test-suites/{suiteId}/runs", runs, 200))["data"] == []
    started = (await call("post", "/test-suites/{suiteId}/runs", runs, 202))["data"]
    assert started["status"] == "running" and started["finishedAt"] is None
    done = await finished(client, project, started["id"])
    await assert_documented(client, "get", PROJECT + "/test-runs/{runId}", done)
    results = done.json()["data"]["results"]
    assert done.json()["data"]["finishedAt"] and {r["kind"] for r in results} == {"scripted", "simulated"}
    assert all(r["checks"] and r["transcript"] for r in results)
    listed = (await call("get", "/test-suites/{suiteId}/runs", runs, 200))["data"]
    assert [run["id"] for run in listed] == [started["id"]]

    await call("delete", "/test-cases/{caseId}", f"/test-cases/{simulated['id']}", 200)
    await call("delete", "/test-suites/{suiteId}", f"/test-suites/{suite['id']}", 200)


async def test_the_lint_answer_is_documented(client: httpx.AsyncClient, project: Project) -> None:
    lint = f"/v1/projects/{project.id}/pathway/lint"
    clean = await client.get(lint, headers=project.auth)
    assert clean.json()["data"]["findings"] == []
    await assert_documented(client, "get", PROJECT + "/pathway/lint", clean)
    island = {
        "id": "island",
        "position": {"x": 0, "y": 0},
        "data": {"type": "prompt", "title": "I", "prompt": "Hi"},
    }
    added = await client.post(f"/v1/projects/{project.id}/pathway/nodes", json=island, headers=project.auth)
    assert added.status_code in (200, 201), added.text
    found = await client.get(lint, headers=project.auth)
    assert [(f["code"], f["nodeId"]) for f in found.json()["data"]["findings"]] == [
        ("unreachable_node", "island")
    ]
    await assert_documented(client, "get", PROJECT + "/pathway/lint", found)

"""API keys: hashed at rest, scoped to their projects on every route, and cheap to refuse.

Routes are taken from the app's own OpenAPI document, so a route added later is covered
without touching these tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.schema import metadata
from pathweaver.store.store import Store
from tests.conftest import Project, make_project
from tests.hardening.conftest import Statements

SECRET = "b-secret-words"
B_SESSION = "b-session"
B_CONVERSATION = "b-conversation"
PATH_VALUES = {
    "sessionId": B_SESSION,
    "nodeId": "start",
    "edgeId": "edge-start-end",
    "model": "pathway-default",
}
PATHWAY = {
    "nodes": [
        {"id": "start", "type": "input", "data": {"type": "start", "title": "Start", "prompt": "Hi"}},
        {"id": "end", "type": "output", "data": {"type": "end", "title": "End", "prompt": "Bye"}},
    ],
    "edges": [{"id": "edge-start-end", "source": "start", "target": "end", "data": {"condition": "done"}}],
}


def body_for(method: str, path: str) -> Any:
    """A body the route would accept from its own project's key (so only the key stops it)."""
    tail = re.sub(r"^.*?\{projectId\}", "", path)
    match method, tail:
        case "POST", p if p.endswith("/chat/completions"):
            return {"messages": [{"role": "user", "content": f"{SECRET} continue"}]}
        case "POST", "/sessions" | "/session" | "/integration/api/session":
            return {"session_id": B_SESSION}
        case "DELETE", _:
            return {"session_id": B_SESSION}
        case "POST", p if p.endswith("/terminate"):
            return {"session_id": B_SESSION}
        case "POST", p if p.endswith("/search"):
            return {"search_string": SECRET}
        case "PATCH", p if "/sessions/" in p:
            return {"marked": True}
        case "PUT" | "PATCH", "/agent":
            return {"name": "hijacked"}
        case "PUT", "/pathway":
            return PATHWAY
        case "POST", "/pathway/nodes":
            return {
                "id": "evil",
                "position": {"x": 0, "y": 0},
                "data": {"type": "prompt", "title": "x", "prompt": "y"},
            }
        case "PATCH", p if p.startswith("/pathway/nodes/"):
            return {"data": {"prompt": "hijacked"}}
        case "POST", "/pathway/edges":
            return {"source": "start", "target": "end", "condition": "hijacked"}
        case "PATCH", p if p.startswith("/pathway/edges/"):
            return {"condition": "hijacked"}
        case "POST", "/pathway/rollback":
            return {"targetVersion": 1}
        case "POST", "/conversations":
            return {"sessionId": "b-new"}
        case "POST", p if p.endswith("/messages"):
            return {"message": SECRET}
        case "POST", _:
            return {}
    return None


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for path, item in document["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path


def fill(path: str, project_id: str) -> str:
    values = {**PATH_VALUES, "projectId": project_id}
    if "/conversations/" in path:
        values["sessionId"] = B_CONVERSATION
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), f"b-{m.group(1)}"), path)


async def call(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], body: Any
) -> httpx.Response:
    return (
        await client.request(method, path, headers=headers, json=body)
        if body is not None
        else (await client.request(method, path, headers=headers))
    )


@pytest.fixture
async def other(store: Store, client: httpx.AsyncClient) -> Project:
    """Project B, with a session that has a turn, an interactive conversation, a pathway."""
    b = await make_project(store, "project-b")
    base = f"/v1/projects/{b.id}"
    made = await client.post(
        f"{base}/chat/completions",
        json={"messages": [{"role": "user", "content": SECRET}]},
        headers={**b.auth, "X-Session-ID": B_SESSION},
    )
    assert made.status_code == 200
    started = await client.post(f"{base}/conversations", json={"sessionId": B_CONVERSATION}, headers=b.auth)
    assert started.status_code == 200
    return b


async def snapshot(client: httpx.AsyncClient, b: Project) -> dict[str, Any]:
    base = f"/v1/projects/{b.id}"
    found = {}
    for path in (
        f"/sessions/{B_SESSION}",
        f"/conversations/{B_CONVERSATION}",
        "/sessions",
        "/agent",
        "/pathway",
        "/pathway/versions",
    ):
        response = await client.get(base + path, headers=b.auth)
        assert response.status_code == 200, (path, response.text)
        found[path] = response.json()
    return found


# At rest --------------------------------------------------------------------------------


def stored_bytes(settings: Settings) -> bytes:
    """The SQLite database as it is on disk: the main file and its write-ahead log."""
    files = [settings.data_dir / "pathweaver.db", settings.data_dir / "pathweaver.db-wal"]
    return b"".join(path.read_bytes() for path in files if path.exists())


async def stored_rows(store: Store) -> str:
    async with store.engine.connect() as conn:
        rows = [list((await conn.execute(select(table))).all()) for table in metadata.sorted_tables]
    return repr(rows)


async def test_keys_are_stored_only_as_hashes(store: Store, settings: Settings, backend: str) -> None:
    project = await make_project(store, "hashed")
    _, developer = await store.projects.create_key("dk", [project.id], name="dev")
    for key in (project.key, developer):
        secret_part = key.split("_", 1)[1]
        digest = hashlib.sha256(key.encode()).hexdigest()
        if backend == "sqlite":
            raw = stored_bytes(settings)
            assert secret_part.encode() not in raw
            assert digest.encode() in raw  # the hash is there: the key was hashed, not dropped
        dump = await stored_rows(store)
        assert secret_part not in dump
        assert digest in dump


# Project scoping ------------------------------------------------------------------------


async def test_a_key_of_project_a_reaches_nothing_of_project_b(
    client: httpx.AsyncClient, project: Project, other: Project, model: ScriptedModel
) -> None:
    document = (await client.get("/openapi.json")).json()
    before = await snapshot(client, other)
    calls = model.count()
    tried = 0
    for method, path in operations(document):
        if "{projectId}" not in path:
            continue
        headers = {**project.auth, "X-Session-ID": B_SESSION}
        body = body_for(method, path)
        response = await call(client, method, fill(path, other.id), headers, body)
        # 403: the key is valid but does not reach B (its message echoes the id asked for).
        assert response.status_code in (403, 404), (method, path, response.status_code, response.text)
        assert SECRET not in response.text, (method, path)
        assert other.id not in response.text.replace(f"project '{other.id}'", ""), (method, path)
        # The same answer as for a project that does not exist: nothing tells B exists.
        ghost_id = "proj_0000000000000000"
        ghost = await call(client, method, fill(path, ghost_id), headers, body)
        assert (ghost.status_code, ghost.text.replace(ghost_id, other.id)) == (
            response.status_code,
            response.text,
        ), (method, path)
        tried += 1
    assert tried >= 30  # every project route of the API, on its three path generations
    assert await snapshot(client, other) == before
    assert model.count() == calls


async def test_project_a_cannot_reach_b_s_sessions_through_its_own_routes(
    client: httpx.AsyncClient, project: Project, other: Project
) -> None:
    base = f"/v1/projects/{project.id}"
    before = await snapshot(client, other)
    for path in (f"/sessions/{B_SESSION}", f"/conversations/{B_CONVERSATION}"):
        response = await client.get(base + path, headers=project.auth)
        assert response.status_code == 404, (path, response.text)
    ended = await client.request(
        "DELETE", f"{base}/sessions", json={"session_id": B_SESSION}, headers=project.auth
    )
    assert ended.status_code in (200, 404) and SECRET not in ended.text
    # B's session id in A's X-Session-ID is a session of A's: B's conversation is not continued.
    reply = await client.post(
        f"{base}/chat/completions",
        json={"messages": [{"role": "user", "content": "hello"}]},
        headers={**project.auth, "X-Session-ID": B_SESSION},
    )
    assert reply.status_code in (200, 409), reply.text
    assert SECRET not in reply.text
    assert await snapshot(client, other) == before


async def test_listings_show_only_the_key_s_projects(
    client: httpx.AsyncClient, project: Project, other: Project
) -> None:
    projects = (await client.get("/v1/projects", headers=project.auth)).json()["data"]
    assert [p["id"] for p in projects] == [project.id]
    base = f"/v1/projects/{project.id}"
    for path in ("/sessions", "/session-history", "/sessions/stats"):
        response = await client.get(base + path, headers=project.auth)
        assert response.status_code == 200, (path, response.text)
        assert B_SESSION not in response.text and SECRET not in response.text, path
    found = await client.post(f"{base}/sessions/search", json={"search_string": SECRET}, headers=project.auth)
    assert found.status_code == 200 and found.json()["results"] == []


async def test_a_revoked_key_is_refused_on_the_next_request(
    client: httpx.AsyncClient, store: Store, project: Project
) -> None:
    record, key = await store.projects.create_key("sk", [project.id], name="short-lived")
    path = f"/v1/projects/{project.id}/models"
    assert (await client.get(path, headers={"Authorization": f"Bearer {key}"})).status_code == 200
    assert await store.projects.revoke_key(record.id)
    refused = await client.get(path, headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"


async def test_keys_never_appear_in_logs_or_error_bodies(
    client: httpx.AsyncClient, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = f"sk_{secrets.token_urlsafe(32)}"
    with caplog.at_level(logging.DEBUG):
        answers = [
            await client.get(f"/v1/projects/{project.id}/sessions/missing", headers=project.auth),
            await client.post(
                f"/v1/projects/{project.id}/chat/completions", json={"messages": []}, headers=project.auth
            ),
            await client.get(
                f"/v1/projects/{project.id}/agent", headers={"Authorization": f"Bearer {wrong}"}
            ),
            await client.get(f"/v1/projects/{project.id}/agent", headers={"x-api-key": project.key + "x"}),
        ]
    for key in (project.key, wrong):
        assert key not in caplog.text
        assert all(key not in answer.text for answer in answers)


# Invalid keys ---------------------------------------------------------------------------


def invalid_headers(revoked: str) -> list[dict[str, str]]:
    return [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": f"Bearer sk_{secrets.token_urlsafe(32)}"},
        {"Authorization": f"Bearer dk_{secrets.token_urlsafe(32)}"},
        {"x-api-key": f"sk_{secrets.token_urlsafe(32)}"},
        {"Authorization": f"Bearer {revoked}"},
    ]


@contextlib.contextmanager
def sqlite_data_version(settings: Settings, backend: str) -> Iterator[list[bool]]:
    """Whether another connection committed to the SQLite file meanwhile (PRAGMA data_version)."""
    changed: list[bool] = []
    if backend != "sqlite":
        yield changed
        return
    with contextlib.closing(sqlite3.connect(Path(settings.data_dir) / "pathweaver.db")) as probe:
        version = probe.execute("PRAGMA data_version").fetchone()[0]
        yield changed
        changed.append(probe.execute("PRAGMA data_version").fetchone()[0] != version)


async def test_an_invalid_key_flood_writes_nothing_and_calls_no_model(
    client: httpx.AsyncClient,
    store: Store,
    project: Project,
    model: ScriptedModel,
    statements: Statements,
    settings: Settings,
    backend: str,
) -> None:
    record, revoked = await store.projects.create_key("sk", [project.id])
    await store.projects.revoke_key(record.id)
    document = (await client.get("/openapi.json")).json()
    calls = model.count()
    refused = 0
    with sqlite_data_version(settings, backend) as changed, statements.recording():
        for method, path in operations(document):
            if "{projectId}" not in path and path != "/v1/projects":
                continue
            for headers in invalid_headers(revoked):
                response = await call(
                    client,
                    method,
                    fill(path, project.id),
                    {**headers, "X-Session-ID": "flood"},
                    body_for(method, path),
                )
                assert response.status_code == 401, (method, path, headers, response.text)
                refused += 1
    assert refused > 200
    assert statements.writes == []
    assert not [s for s in statements.seen if "IMMEDIATE" in s.upper()]  # no write transaction either
    assert changed in ([], [False])
    assert model.count() == calls
    # A malformed key is refused before any database access at all.
    statements.clear()
    response = await client.get(
        f"/v1/projects/{project.id}/agent", headers={"Authorization": "Bearer garbage"}
    )
    assert response.status_code == 401
    assert statements.seen == []
    assert json.loads(response.text)["error"]["message"] == "Invalid authentication"

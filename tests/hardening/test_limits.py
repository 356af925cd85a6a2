"""Request limits: bodies over the limit get 413 while they stream in; caps on what a body holds.

Whatever the client declares (a true, missing or lying ``Content-Length``), the server never
reads more than the limit plus one chunk, answers 413 with a body that says so, and stores
nothing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from pathweaver.api.app import create_app
from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.conftest import Project
from tests.hardening.conftest import served

LIMIT = 64_000
CHUNK = 16_384


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "max_body_bytes": LIMIT,
            "max_messages": 5,
            "max_message_chars": 200,
            "max_tools": 2,
            "max_variables": 3,
            "max_variables_bytes": 300,
        }
    )


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def tool(name: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "parameters": {"type": "object", "properties": {}}},
    }


async def call_raw(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], chunks: int, method: str = "POST"
) -> tuple[int, dict[str, Any], int]:
    """Send ``chunks`` chunks of ``CHUNK`` bytes to the ASGI app; (status, body, bytes it pulled)."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= chunks * CHUNK:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += CHUNK
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"pathweaver.test"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("pathweaver.test", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled


@pytest.fixture
async def app(settings: Settings, store: Store, model: ScriptedModel) -> Any:
    the_app = create_app(settings, store=store, model=model)
    async with the_app.router.lifespan_context(the_app):
        yield the_app


def chat_path(project: Project) -> str:
    return f"/v1/projects/{project.id}/chat/completions"


def auth(project: Project) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {project.key}".encode())]


async def test_a_declared_length_over_the_limit_is_refused_before_reading(app: Any, project: Project) -> None:
    status, body, pulled = await call_raw(
        app, chat_path(project), [*auth(project), (b"content-length", b"1000000000")], chunks=1000
    )
    assert status == 413
    assert body["error"]["code"] == "request_too_large"
    assert str(LIMIT) in body["error"]["message"]
    assert pulled == 0


async def test_a_chunked_body_over_the_limit_is_cut_while_it_streams(app: Any, project: Project) -> None:
    status, body, pulled = await call_raw(
        app, chat_path(project), [*auth(project), (b"transfer-encoding", b"chunked")], chunks=1000
    )
    assert status == 413
    assert body["error"]["type"] == "invalid_request_error"
    assert pulled <= LIMIT + CHUNK


async def test_a_lying_content_length_is_cut_at_the_limit(app: Any, project: Project) -> None:
    status, _, pulled = await call_raw(
        app, chat_path(project), [*auth(project), (b"content-length", b"100")], chunks=1000
    )
    assert status == 413
    assert pulled <= LIMIT + CHUNK


async def test_management_routes_have_the_same_limit(app: Any, project: Project) -> None:
    status, _, pulled = await call_raw(
        app,
        f"/v1/projects/{project.id}/pathway",
        [*auth(project), (b"transfer-encoding", b"chunked")],
        chunks=1000,
        method="PUT",
    )
    assert status == 413
    assert pulled <= LIMIT + CHUNK


async def test_a_huge_upload_over_a_real_socket_is_answered_413_before_it_ends(
    settings: Settings, store: Store, model: ScriptedModel, project: Project
) -> None:
    """64 MB offered, chunked, to a 64 KB limit: 413 comes back long before the upload ends."""
    app = create_app(settings, store=store, model=model)
    async with served(app) as url:
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            f"POST {chat_path(project)} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {project.key}\r\n"
            "content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        writer.write(head.encode())
        answer = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))
        offered = 0
        try:
            while offered < 64 * 1024 * 1024 and not answer.done():
                writer.write(f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n")
                offered += CHUNK
                await asyncio.wait_for(writer.drain(), 5)
        except (ConnectionError, TimeoutError):
            pass  # the server stopped reading, or closed: the upload is refused either way
        head_bytes = await asyncio.wait_for(answer, 5)
        writer.close()
        assert head_bytes.startswith(b"HTTP/1.1 413")
        assert offered < 32 * 1024 * 1024


async def test_a_body_under_the_limit_is_accepted(client: httpx.AsyncClient, project: Project) -> None:
    response = await client.post(
        chat_path(project),
        json={"messages": [user("hello")], "pad": "x" * (LIMIT // 2)},
        headers=project.auth,
    )
    assert response.status_code == 200


async def assert_refused_and_nothing_stored(
    client: httpx.AsyncClient, project: Project, response: httpx.Response, session: str, word: str
) -> None:
    assert response.status_code == 413, response.text
    assert word in json.dumps(response.json())
    missing = await client.get(f"/v1/projects/{project.id}/sessions/{session}", headers=project.auth)
    assert missing.status_code == 404


async def test_too_many_messages(client: httpx.AsyncClient, project: Project) -> None:
    response = await client.post(
        chat_path(project),
        json={"messages": [user(f"m{i}") for i in range(6)]},
        headers={**project.auth, "X-Session-ID": "cap-messages"},
    )
    await assert_refused_and_nothing_stored(client, project, response, "cap-messages", "messages")
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "content", ["x" * 201, [{"type": "text", "text": "x" * 150}, {"type": "text", "text": "y" * 60}]]
)
async def test_a_message_too_long(client: httpx.AsyncClient, project: Project, content: Any) -> None:
    response = await client.post(
        chat_path(project),
        json={"messages": [{"role": "user", "content": content}]},
        headers={**project.auth, "X-Session-ID": "cap-length"},
    )
    await assert_refused_and_nothing_stored(client, project, response, "cap-length", "content")


async def test_too_many_tools(client: httpx.AsyncClient, project: Project) -> None:
    response = await client.post(
        chat_path(project),
        json={"messages": [user("hi")], "tools": [tool("a"), tool("b"), tool("c")]},
        headers={**project.auth, "X-Session-ID": "cap-tools"},
    )
    await assert_refused_and_nothing_stored(client, project, response, "cap-tools", "tools")


@pytest.mark.parametrize(
    "variables", [{"a": 1, "b": 2, "c": 3, "d": 4}, {"a": "x" * 400}], ids=["too-many", "too-big"]
)
async def test_session_variables_over_the_caps(
    client: httpx.AsyncClient, project: Project, variables: dict[str, Any]
) -> None:
    response = await client.post(
        f"/v1/projects/{project.id}/sessions",
        json={"session_id": "cap-vars", "variables": variables},
        headers=project.auth,
    )
    await assert_refused_and_nothing_stored(client, project, response, "cap-vars", "variables")


async def test_interactive_conversations_apply_the_variable_caps(
    client: httpx.AsyncClient, project: Project
) -> None:
    response = await client.post(
        f"/v1/projects/{project.id}/conversations",
        json={"sessionId": "cap-test", "variables": {"a": 1, "b": 2, "c": 3, "d": 4}},
        headers=project.auth,
    )
    await assert_refused_and_nothing_stored(client, project, response, "cap-test", "variables")


async def test_interactive_messages_apply_the_length_cap(client: httpx.AsyncClient, project: Project) -> None:
    started = await client.post(
        f"/v1/projects/{project.id}/conversations", json={"sessionId": "cap-msg"}, headers=project.auth
    )
    assert started.status_code == 200
    response = await client.post(
        f"/v1/projects/{project.id}/conversations/cap-msg/messages",
        json={"message": "x" * 201},
        headers=project.auth,
    )
    assert response.status_code == 413, response.text

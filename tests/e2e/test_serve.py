"""End to end: the real ``pathweaver serve`` process, driven with the official openai client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent / "pathweaver"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(*args: str, data_dir: Path) -> str:
    env = {**os.environ, "PATHWEAVER_DATA_DIR": str(data_dir)}
    done = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str, str]]:
    """A served demo project: (base_url, project_id, key, first-run banner)."""
    data_dir = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {**os.environ, "PATHWEAVER_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [str(BIN), "serve", "--fake", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline() if process.stdout else ""
            banner.append(line)
            if "base URL" in line:
                break
            if process.poll() is not None:
                raise AssertionError("server exited:\n" + "".join(banner))
        text = "".join(banner)
        project_id = text.split("project id :")[1].split()[0]
        key = text.split("API key    :")[1].split()[0]
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                raise AssertionError("server did not start:\n" + text + output)
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", project_id, key, text
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stdout:
            process.stdout.close()


def client_for(server: tuple[str, str, str, str], session: str) -> openai.OpenAI:
    base, project_id, key, _ = server
    return openai.OpenAI(
        base_url=f"{base}/v1/projects/{project_id}", api_key=key, default_headers={"X-Session-ID": session}
    )


def test_first_start_prints_a_working_demo(server) -> None:
    base, project_id, key, banner = server
    assert "First start: created a demo project." in banner
    created = httpx.post(
        f"{base}/api/project/{project_id}/integration/api/session",
        json={"session_id": "curl-1"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert created.json() == {"sessionId": "curl-1", "pathwayId": project_id}


def test_models_and_sync_completion_with_session_continuity(server) -> None:
    client = client_for(server, "e2e-sync")
    assert [m.id for m in client.models.list().data] == ["pathway-default"]
    first = client.chat.completions.create(
        model="pathway-default", messages=[{"role": "user", "content": "hello"}]
    )
    assert first.choices[0].message.content == "You said: hello"
    second = client.chat.completions.create(
        model="pathway-default", messages=[{"role": "user", "content": "again"}]
    )
    assert second.choices[0].finish_reason == "stop"
    base, project_id, key, _ = server
    state = httpx.get(
        f"{base}/v1/projects/{project_id}/sessions/e2e-sync", headers={"Authorization": f"Bearer {key}"}
    )
    contents = [m["content"] for m in state.json()["state"]["messages"]]
    # The demo agent greets first (its firstMessage), then the two turns follow in order.
    assert contents[0].startswith("Hello")
    assert contents[1:] == ["hello", "You said: hello", "again", "You said: again"]


def test_sync_streaming(server) -> None:
    client = client_for(server, "e2e-stream")
    stream = client.chat.completions.create(
        model="pathway-default",
        messages=[{"role": "user", "content": "stream these words"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            parts.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(parts) == "You said: stream these words"
    assert finish == "stop" and usage is not None and usage.total_tokens > 0


async def test_async_client_streaming_and_tool_round_trip(server) -> None:
    base, project_id, key, _ = server
    async with openai.AsyncOpenAI(
        base_url=f"{base}/v1/projects/{project_id}",
        api_key=key,
        default_headers={"X-Session-ID": "e2e-tools"},
    ) as client:
        messages = [{"role": "user", "content": '/tool get_weather {"city": "Taipei"}'}]
        stream = await client.chat.completions.create(
            model="pathway-default", messages=messages, tools=[WEATHER], stream=True
        )
        calls: dict[int, dict[str, str]] = {}
        finish = None
        async for chunk in stream:
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for delta in choice.delta.tool_calls or []:
                    entry = calls.setdefault(delta.index, {"id": "", "name": "", "args": ""})
                    entry["id"] = delta.id or entry["id"]
                    entry["name"] = (delta.function.name if delta.function else None) or entry["name"]
                    entry["args"] += (delta.function.arguments if delta.function else "") or ""
        assert finish == "tool_calls"
        call = calls[0]
        assert call["name"] == "get_weather" and json.loads(call["args"]) == {"city": "Taipei"}
        assistant = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": call["args"]},
                }
            ],
        }
        follow = await client.chat.completions.create(
            model="pathway-default",
            messages=[
                *messages,
                assistant,
                {"role": "tool", "tool_call_id": call["id"], "content": "rain, 18C"},
            ],
            tools=[WEATHER],
        )
        assert follow.choices[0].message.content == "The tool returned: rain, 18C"


def test_openai_client_gets_typed_errors(server) -> None:
    base, project_id, _, _ = server
    bad_key = openai.OpenAI(base_url=f"{base}/v1/projects/{project_id}", api_key="sk_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad_key.chat.completions.create(model="pathway-default", messages=[{"role": "user", "content": "hi"}])
    client = client_for(server, "e2e-errors")
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="pathway-default", messages=[])


def test_cli_creates_and_revokes_keys(tmp_path: Path) -> None:
    created = json.loads(run_cli("project", "create", "Acme", "--json", data_dir=tmp_path))
    assert set(created) == {"projectId", "apiKey"} and created["apiKey"].startswith("sk_")
    key = json.loads(run_cli("key", "create", "--project", created["projectId"], "--json", data_dir=tmp_path))
    assert key["apiKey"].startswith("sk_") and key["projectIds"] == [created["projectId"]]
    assert "revoked" in run_cli("key", "revoke", key["keyId"], data_dir=tmp_path)
    listing = json.loads(run_cli("key", "list", "--json", data_dir=tmp_path))
    assert {k["keyId"]: k["revoked"] for k in listing}[key["keyId"]] is True
    database = (tmp_path / "pathweaver.db").read_bytes()
    assert created["apiKey"].encode() not in database and key["apiKey"].encode() not in database

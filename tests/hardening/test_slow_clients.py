"""Slow clients (reliability C3): a body that trickles in is cut with 408 and the
connection closed, so a slow sender cannot hold a connection; a body sent at once, and a
stream that waits on the client afterwards, are not affected."""

from __future__ import annotations

import asyncio
import time

import pytest

from pathweaver.api.app import create_app
from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.conftest import Project
from tests.hardening.conftest import served

TIMEOUT = 0.5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"body_read_timeout": TIMEOUT})


async def raw_request(url: str, project: Project, parts: list[bytes], pause: float) -> tuple[bytes, float]:
    """Send a chat request whose body comes in ``parts`` with ``pause`` s between them;
    return what the server answered (until it closed) and how long that took."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b"".join(parts)
    head = (
        f"POST /v1/projects/{project.id}/chat/completions HTTP/1.1\r\nHost: t\r\n"
        f"Authorization: Bearer {project.key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    began = time.monotonic()
    writer.write(head)
    for index, part in enumerate(parts):
        if index:
            await asyncio.sleep(pause)
            if reader.at_eof() or writer.is_closing():
                break
        writer.write(part)
        await writer.drain()
        if pause > TIMEOUT:
            # A stall longer than the server's timeout: the answer comes before the next part.
            await asyncio.sleep(pause)
            break
    answer = await asyncio.wait_for(reader.read(), 10)  # until the server closes
    writer.close()
    return answer, time.monotonic() - began


async def test_a_trickled_body_gets_408_and_the_connection_is_closed(
    settings: Settings, store: Store, model: ScriptedModel, project: Project
) -> None:
    body = b'{"messages": [{"role": "user", "content": "hello"}]}'
    parts = [body[i : i + 8] for i in range(0, len(body), 8)]
    async with served(create_app(settings, store=store, model=model)) as url:
        answer, took = await raw_request(url, project, parts, pause=TIMEOUT * 3)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_timeout" in answer and b"stalled" in answer
    assert took < TIMEOUT * 3 * 2 + 5  # cut after the first stall, not after the whole trickle
    assert model.count() == 0


async def test_a_body_with_short_pauses_is_served(
    settings: Settings, store: Store, model: ScriptedModel, project: Project
) -> None:
    body = b'{"messages": [{"role": "user", "content": "hello"}]}'
    async with served(create_app(settings, store=store, model=model)) as url:
        answer, _ = await raw_request(url, project, [body[:20], body[20:]], pause=TIMEOUT / 5)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]

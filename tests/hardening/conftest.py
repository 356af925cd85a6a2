"""Fixtures for the hardening tests: a real mock upstream, a real socket, a write counter.

Streaming and disconnects cannot be seen through ``httpx.ASGITransport`` (it buffers the
whole response), so :func:`served` runs the app under uvicorn on 127.0.0.1, in the test's
own event loop: the test's store and model are the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import event

from pathweaver.agent.pathway import Pathway
from pathweaver.api.app import create_app
from pathweaver.config import Settings
from pathweaver.llm.openai_compat import OpenAICompatModel
from pathweaver.store.store import Store
from tests.conftest import Project, make_project
from tests.support.mock_llm import MockLLM


@pytest.fixture
def upstream() -> Iterator[MockLLM]:
    with MockLLM() as mock:
        yield mock


@pytest.fixture
async def upstream_model(upstream: MockLLM) -> AsyncIterator[OpenAICompatModel]:
    model = OpenAICompatModel(upstream.base_url, None, "mock-model", max_retries=0)
    yield model
    await model.aclose()


@pytest.fixture
def upstream_app(settings: Settings, store: Store, upstream_model: OpenAICompatModel) -> FastAPI:
    """The app on the test's store, talking to the mock upstream over HTTP."""
    return create_app(settings, store=store, model=upstream_model)


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port; yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            raise RuntimeError("uvicorn did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), 3)
        except TimeoutError:
            # A turn whose client left may still be waiting for the model (should a disconnect
            # test fail): stop without waiting for it, so the failure is reported, not a hang.
            server.force_exit = True
            await asyncio.wait_for(task, 10)


@pytest.fixture
async def live(upstream_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``upstream_app`` served on a real socket."""
    async with served(upstream_app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield http


_recording: ContextVar[bool] = ContextVar("hardening_recording", default=False)


@dataclass
class Statements:
    """The SQL statements run on behalf of the code inside :meth:`recording`, in order.

    Statements are attributed through a context variable, so the app's background tasks
    (started at start-up, outside the block) are not counted, while every task a request
    starts (it copies the request's context) is.
    """

    seen: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        token = _recording.set(True)
        try:
            yield
        finally:
            _recording.reset(token)

    @property
    def writes(self) -> list[str]:
        reads = ("SELECT", "BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SET", "SHOW", "SAVEPOINT", "RELEASE")
        return [s for s in self.seen if not s.lstrip().upper().startswith(reads)]

    def clear(self) -> None:
        self.seen.clear()


@pytest.fixture
def statements(store: Store) -> Iterator[Statements]:
    """Statements the store runs inside ``recording()`` (SQLAlchemy engine events, both backends)."""
    found = Statements()

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if _recording.get():
            found.seen.append(statement)

    # Both engines: the turn's statements go through ``store.turn_engine`` (SQLite).
    engines = {store.engine.sync_engine, store.turn_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    yield found
    for engine in engines:
        event.remove(engine, "before_cursor_execute", record)


def one_node() -> Pathway:
    """A pathway of one start node: no routing decision, so one model call per turn (the
    plumbing tests push exactly one upstream answer per turn)."""
    return Pathway.model_validate(
        {
            "nodes": [{"id": "start", "data": {"type": "start", "title": "Start", "prompt": "Talk."}}],
            "edges": [],
        }
    )


@pytest.fixture
async def one_node_project(store: Store) -> Project:
    return await make_project(store, pathway=one_node())

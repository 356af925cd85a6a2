"""Shared fixtures: a fresh SQLite database per test, the scripted model, an in-process app."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.pathway import Pathway, default_pathway
from pathweaver.api.app import create_app
from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store


@dataclass
class Project:
    id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


POSTGRES_URL = os.environ.get("PATHWEAVER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test that touches storage runs on SQLite and on PostgreSQL."""
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, backend: str) -> Settings:
    if backend == "postgres":
        schema = f"t_{secrets.token_hex(6)}"
        return Settings(data_dir=tmp_path, fake_model=True, database_url=POSTGRES_URL, database_schema=schema)
    return Settings(data_dir=tmp_path, fake_model=True)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    the_store = await Store.open(settings)
    yield the_store
    if settings.database_schema:
        async with the_store.engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{settings.database_schema}" CASCADE')
    await the_store.close()


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app``, in-process, with the app's start-up and shutdown around it."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pathweaver.test") as http,
    ):
        yield http


@pytest.fixture
async def client(settings: Settings, store: Store, model: ScriptedModel) -> AsyncIterator[httpx.AsyncClient]:
    async with served(create_app(settings, store=store, model=model)) as http:
        yield http


async def make_project(
    store: Store, name: str = "demo", agent: AgentConfig | None = None, pathway: Pathway | None = None
) -> Project:
    project = await store.projects.create_project(name, agent or AgentConfig(), pathway or default_pathway())
    _, key = await store.projects.create_key("sk", [project.id])
    return Project(project.id, key)


@pytest.fixture
async def project(store: Store) -> Project:
    return await make_project(store)

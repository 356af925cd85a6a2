"""The app with a small upload limit, a tool host on the allow-list and a fast fake embedder."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from pathweaver.api.app import create_app
from pathweaver.config import Settings
from pathweaver.knowledge.bases import Knowledge
from pathweaver.knowledge.embeddings import Embedder, Embedders
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.knowledge import KnowledgeStore
from pathweaver.store.store import Store
from tests.knowledge.fakes import HashingEmbedder

MAX_DATASET_BYTES = 200_000


@contextlib.asynccontextmanager
async def app_client(
    settings: Settings, store: Store, model: ScriptedModel, embedder: Embedder
) -> AsyncIterator[httpx.AsyncClient]:
    tuned = settings.model_copy(
        update={"max_dataset_bytes": MAX_DATASET_BYTES, "outbound_allow": "tools.internal"}
    )
    app = create_app(tuned, store=store, model=model)
    async with app.router.lifespan_context(app):
        knowledge = Knowledge(KnowledgeStore(store.engine), Embedders(local=embedder))
        app.state.knowledge = knowledge
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pathweaver.test") as http:
            yield http
        await knowledge.aclose()


@pytest.fixture
async def api(settings: Settings, store: Store, model: ScriptedModel) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, store, model, HashingEmbedder()) as http:
        yield http

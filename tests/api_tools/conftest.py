"""An app with the tools and knowledge routers included (until create_app includes them)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from pathweaver.api.app import create_app
from pathweaver.api.knowledge import knowledge_router
from pathweaver.api.tools import tools_router
from pathweaver.config import Settings
from pathweaver.knowledge.bases import Knowledge
from pathweaver.knowledge.embeddings import Embedder, Embedders
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.knowledge import KnowledgeStore
from pathweaver.store.store import Store
from pathweaver.tools.outbound import AllowList, OutboundPolicy
from tests.knowledge.fakes import HashingEmbedder

MAX_DATASET_BYTES = 200_000


@contextlib.asynccontextmanager
async def app_client(
    settings: Settings, store: Store, model: ScriptedModel, embedder: Embedder
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, store=store, model=model)
    app.include_router(tools_router(OutboundPolicy(allow=AllowList.parse("tools.internal"))))
    app.include_router(knowledge_router(max_dataset_bytes=MAX_DATASET_BYTES))
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

"""An app with the conversation-test routes, on SQLite and PostgreSQL (the root fixtures)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from pathweaver.api.app import create_app
from pathweaver.api.testing import cancel_test_runs, testing_router
from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store


@pytest.fixture
async def client(settings: Settings, store: Store, model: ScriptedModel) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, store=store, model=model)
    app.include_router(testing_router())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pathweaver.test") as http:
            yield http
        await cancel_test_runs(app)

"""The store: one object giving the runtime and the API access to persistence."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from pathweaver.config import Settings
from pathweaver.store.database import make_engine, migrate
from pathweaver.store.idempotency import IdempotencyStore
from pathweaver.store.knowledge import KnowledgeStore
from pathweaver.store.lifecycle import LifecycleStore
from pathweaver.store.projects import ProjectStore
from pathweaver.store.sessions import SessionStore
from pathweaver.store.tools import ToolStore


class Store:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.projects = ProjectStore(engine)
        self.sessions = SessionStore(engine)
        self.idempotency = IdempotencyStore(engine)
        self.lifecycle = LifecycleStore(engine)
        self.tools = ToolStore(engine)
        self.knowledge = KnowledgeStore(engine)

    @classmethod
    async def open(cls, settings: Settings) -> Store:
        """Connect to the configured database and apply migrations."""
        engine = make_engine(
            settings.resolved_database_url(),
            sqlite_synchronous=settings.sqlite_synchronous,
            schema=settings.database_schema,
        )
        await migrate(engine, settings.database_schema)
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

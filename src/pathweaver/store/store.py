"""The store: one object giving the runtime and the API access to persistence."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from pathweaver.config import Settings
from pathweaver.store.database import AnyEngine, make_engine, make_turn_engine, migrate
from pathweaver.store.idempotency import IdempotencyStore
from pathweaver.store.knowledge import KnowledgeStore
from pathweaver.store.lifecycle import LifecycleStore
from pathweaver.store.projects import ProjectStore
from pathweaver.store.sessions import SessionStore
from pathweaver.store.tools import ToolStore


class Store:
    def __init__(
        self, engine: AsyncEngine, turn_engine: AnyEngine | None = None, *, key_cache_seconds: float = 0
    ):
        self.engine = engine
        #: The engine of a turn's short statements (``database.make_turn_engine``).
        self.turn_engine = turn_engine or engine
        self.projects = ProjectStore(engine, self.turn_engine, key_cache_seconds=key_cache_seconds)
        self.sessions = SessionStore(engine, self.turn_engine)
        self.idempotency = IdempotencyStore(engine)
        self.lifecycle = LifecycleStore(engine, self.turn_engine)
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
        turn_engine = make_turn_engine(engine, sqlite_synchronous=settings.sqlite_synchronous)
        return cls(engine, turn_engine, key_cache_seconds=settings.key_cache_seconds)

    async def close(self) -> None:
        if self.turn_engine is not self.engine:
            await self.turn_engine.dispose()
        await self.engine.dispose()

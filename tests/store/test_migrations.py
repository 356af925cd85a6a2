"""The migrations build exactly the schema the code declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from pathweaver.store.schema import metadata


async def test_migrations_match_the_declared_schema(store) -> None:
    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection), metadata)

    async with store.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_migrating_twice_is_a_no_op(store, settings) -> None:
    from pathweaver.store.database import migrate

    await migrate(store.engine, settings.database_schema)
    assert await store.projects.count_projects() == 0

"""Persistence of tools and knowledge, on SQLite and PostgreSQL, and its migration."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from pathweaver.errors import Conflict, NotFound
from pathweaver.store.knowledge import KnowledgeStore, NewChunk
from pathweaver.store.schema import metadata
from pathweaver.store.store import Store
from pathweaver.store.tools import ToolStore
from pathweaver.tools.config import parse_tool
from tests.conftest import make_project

MY_TABLES = {"tool_configs", "knowledge_bases", "datasets", "dataset_files", "chunks"}


async def test_migration_0003_builds_the_declared_tables(store: Store) -> None:
    def diff(connection: object) -> list[object]:
        return compare_metadata(MigrationContext.configure(connection), metadata)  # type: ignore[arg-type]

    async with store.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    mine = [d for d in differences if any(table in repr(d) for table in MY_TABLES)]
    assert mine == []


def restful(tool_id: str, name: str) -> object:
    return parse_tool(
        {"id": tool_id, "type": "restful", "name": name, "metadata": {"url": "https://api.example.com"}}
    )


async def test_tools_are_stored_per_project(store: Store) -> None:
    a = await make_project(store, "a")
    b = await make_project(store, "b")
    tools = ToolStore(store.engine)
    await tools.create_tool(a.id, restful("tool_1", "lookup"))  # type: ignore[arg-type]
    await tools.create_tool(a.id, restful("tool_2", "book"))  # type: ignore[arg-type]
    await tools.create_tool(b.id, restful("tool_3", "lookup"))  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="'lookup' already exists"):
        await tools.create_tool(a.id, restful("tool_4", "lookup"))  # type: ignore[arg-type]
    assert [t.tool.name for t in await tools.list_tools(a.id)] == ["lookup", "book"]
    with pytest.raises(NotFound):
        await tools.get_tool(b.id, "tool_1")
    assert [t.name for t in await tools.tools_by_id(a.id, ["tool_2", "end_call", "tool_3", "tool_1"])] == [
        "book",
        "lookup",
    ]

    renamed = restful("tool_2", "reserve")
    stored = await tools.replace_tool(a.id, renamed)  # type: ignore[arg-type]
    assert stored.tool.name == "reserve" and stored.created_at <= stored.updated_at
    with pytest.raises(Conflict):
        await tools.replace_tool(a.id, restful("tool_2", "lookup"))  # type: ignore[arg-type]
    await tools.delete_tool(a.id, "tool_2")
    with pytest.raises(NotFound):
        await tools.delete_tool(a.id, "tool_2")
    assert await tools.tool_ids(a.id) == {"tool_1"}


async def test_a_dataset_lifecycle(store: Store) -> None:
    project = await make_project(store)
    knowledge = KnowledgeStore(store.engine)
    base = await knowledge.create_base(
        project.id, name="KB", type="pgvector", embedding_model_name="m", chunk_size=500, chunk_overlap=50
    )
    with pytest.raises(Conflict, match="one per project"):
        await knowledge.create_base(
            project.id,
            name="KB2",
            type="pgvector",
            embedding_model_name="m",
            chunk_size=500,
            chunk_overlap=50,
        )
    first = await knowledge.add_dataset(
        base, filename="a.txt", extension="txt", content=b"alpha", content_type="text/plain"
    )
    second = await knowledge.add_dataset(
        base, filename="b.txt", extension="txt", content=b"beta", content_type="text/plain"
    )
    assert [d.id for d in await knowledge.list_datasets(base.id)] == [second.id, first.id]
    assert await knowledge.dataset_file(first.id) == ("text/plain", b"alpha")

    assert await knowledge.claim(first.id)
    assert not await knowledge.claim(first.id)
    revision = await knowledge.revision(base.id)
    vector = b"\x00\x00\x80\x3f" * 4
    assert await knowledge.finish(
        first.id, [NewChunk(0, "alpha one", vector), NewChunk(1, "alpha two", vector)], "m"
    )
    assert await knowledge.finish(first.id, [NewChunk(0, "alpha one", vector)], "m")  # idempotent: replaces
    assert await knowledge.revision(base.id) == (revision or 0) + 2
    ready = await knowledge.get_dataset(base.id, first.id)
    assert ready.is_parsed and ready.chunk_count == 1 and ready.embedded_with == "m"

    await knowledge.claim(second.id)
    await knowledge.fail(second.id, "the PDF is damaged")
    failed = await knowledge.get_dataset(base.id, second.id)
    assert failed.status == "failed" and failed.error == "the PDF is damaged" and not failed.is_parsed

    [chunk] = await knowledge.list_chunks(base.id, first.id)
    ids, blobs = await knowledge.vectors(base.id, "m")
    assert ids == [chunk.id] and blobs == [vector]
    assert (await knowledge.vectors(base.id, "other model"))[0] == []
    await knowledge.set_chunk_enabled(base.id, chunk.id, False)
    assert (await knowledge.vectors(base.id, "m"))[0] == []

    other = await make_project(store, "other")
    with pytest.raises(NotFound):
        await knowledge.get_base(other.id, base.id)

    await knowledge.delete_dataset(base.id, first.id)
    assert await knowledge.list_chunks(base.id, first.id) == []
    assert await knowledge.count_chunks(base.id) == 0
    with pytest.raises(NotFound):
        await knowledge.dataset_file(first.id)
    assert await knowledge.unfinished() == []


async def test_unfinished_datasets_are_found_after_a_restart(store: Store) -> None:
    project = await make_project(store)
    knowledge = KnowledgeStore(store.engine)
    base = await knowledge.create_base(
        project.id, name="KB", type="pgvector", embedding_model_name="m", chunk_size=500, chunk_overlap=50
    )
    waiting = await knowledge.add_dataset(
        base, filename="a.txt", extension="txt", content=b"a", content_type="text/plain"
    )
    running = await knowledge.add_dataset(
        base, filename="b.txt", extension="txt", content=b"b", content_type="text/plain"
    )
    await knowledge.claim(running.id)
    assert await knowledge.unfinished() == [(project.id, waiting.id), (project.id, running.id)]

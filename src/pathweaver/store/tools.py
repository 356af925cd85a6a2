"""Tool configs, per project. Names are unique in a project (they are what the model calls)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from pathweaver.errors import Conflict, NotFound
from pathweaver.store.database import read_transaction, write_transaction
from pathweaver.store.schema import utcnow
from pathweaver.store.schema_tools import tool_configs
from pathweaver.tools.config import McpTool, RestfulTool, load_tool


@dataclass(frozen=True, slots=True)
class StoredTool:
    project_id: str
    tool: RestfulTool | McpTool
    created_at: datetime
    updated_at: datetime


def _conflict(name: str) -> Conflict:
    return Conflict(f"a tool named {name!r} already exists in this project; choose another name")


class ToolStore:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def list_tools(self, project_id: str) -> list[StoredTool]:
        query = (
            select(tool_configs)
            .where(tool_configs.c.project_id == project_id)
            .order_by(tool_configs.c.created_at)
        )
        async with read_transaction(self.engine) as conn:
            rows = (await conn.execute(query)).all()
        return [StoredTool(r.project_id, load_tool(r.config), r.created_at, r.updated_at) for r in rows]

    async def get_tool(self, project_id: str, tool_id: str) -> StoredTool:
        query = select(tool_configs).where(
            tool_configs.c.project_id == project_id, tool_configs.c.id == tool_id
        )
        async with read_transaction(self.engine) as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"tool {tool_id!r} not found")
        return StoredTool(row.project_id, load_tool(row.config), row.created_at, row.updated_at)

    async def tools_by_id(self, project_id: str, tool_ids: Sequence[str]) -> list[RestfulTool | McpTool]:
        """The project's tools among ``tool_ids``, in that order; unknown ids are skipped
        (built-in names and deleted tools listed on a node)."""
        if not tool_ids:
            return []
        query = select(tool_configs.c.id, tool_configs.c.config).where(
            tool_configs.c.project_id == project_id, tool_configs.c.id.in_(list(tool_ids))
        )
        async with read_transaction(self.engine) as conn:
            found = {row.id: row.config for row in (await conn.execute(query)).all()}
        return [load_tool(found[i]) for i in dict.fromkeys(tool_ids) if i in found]

    async def tool_ids(self, project_id: str) -> set[str]:
        """Every tool id of the project (for pathway validation)."""
        query = select(tool_configs.c.id).where(tool_configs.c.project_id == project_id)
        async with read_transaction(self.engine) as conn:
            return set((await conn.execute(query)).scalars())

    async def create_tool(self, project_id: str, tool: RestfulTool | McpTool) -> StoredTool:
        now = utcnow()
        try:
            async with write_transaction(self.engine) as conn:
                await conn.execute(
                    insert(tool_configs).values(
                        project_id=project_id,
                        id=tool.id,
                        type=tool.type,
                        name=tool.name,
                        config=tool.to_json(),
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise _conflict(tool.name) from None
        return StoredTool(project_id, tool, now, now)

    async def replace_tool(self, project_id: str, tool: RestfulTool | McpTool) -> StoredTool:
        """Store a new version of an existing tool (same id)."""
        now = utcnow()
        try:
            async with write_transaction(self.engine) as conn:
                result = await conn.execute(
                    update(tool_configs)
                    .where(tool_configs.c.project_id == project_id, tool_configs.c.id == tool.id)
                    .values(type=tool.type, name=tool.name, config=tool.to_json(), updated_at=now)
                    .returning(tool_configs.c.created_at)
                )
                created = result.scalar_one_or_none()
        except IntegrityError:
            raise _conflict(tool.name) from None
        if created is None:
            raise NotFound(f"tool {tool.id!r} not found")
        return StoredTool(project_id, tool, created, now)

    async def delete_tool(self, project_id: str, tool_id: str) -> None:
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                delete(tool_configs).where(
                    tool_configs.c.project_id == project_id, tool_configs.c.id == tool_id
                )
            )
        if not result.rowcount:
            raise NotFound(f"tool {tool_id!r} not found")

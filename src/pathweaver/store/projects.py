"""Projects, API keys, agent configs and pathway versions."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pathweaver import keys
from pathweaver.agent.config import AgentConfig, load_stored, read_stored
from pathweaver.agent.pathway import SCHEMA_VERSION, Pathway
from pathweaver.errors import Conflict, NotFound
from pathweaver.offload import heavy
from pathweaver.store.database import AnyEngine, read_transaction, write_transaction
from pathweaver.store.schema import (
    agents,
    api_key_projects,
    api_keys,
    pathway_versions,
    projects,
    utcnow,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    pathway_version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    kind: str
    hint: str
    name: str
    project_ids: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredAgent:
    id: str
    project_id: str
    config: AgentConfig
    updated_at: datetime
    #: Stored values that no longer validate, left out of ``config`` (``agent.config.load_stored``).
    problems: tuple[str, ...] = ()


#: ``change`` of :meth:`ProjectStore.update_agent`: (the stored config as JSON, that config
#: as read, the current pathway) -> the config to store.
AgentChange = Callable[[dict[str, Any], AgentConfig, Pathway], Awaitable[AgentConfig]]


@dataclass(frozen=True, slots=True)
class PathwayVersion:
    project_id: str
    version: int
    schema_version: int
    document: dict[str, Any]
    created_at: datetime
    author: str
    note: str


#: Every request runs it: built once (building a statement costs more than running it).
_KEY_WITH_REACH = (
    select(api_keys, api_key_projects.c.project_id)
    .outerjoin(api_key_projects, api_key_projects.c.key_id == api_keys.c.id)
    .where(api_keys.c.key_hash == bindparam("p_hash"))
)


_SESSION_BASIS = (
    select(projects.c.pathway_version, agents.c.updated_at)
    .join_from(projects, agents, agents.c.project_id == projects.c.id)
    .where(projects.c.id == bindparam("p_project"))
)


#: Keys remembered at most (the least recently used are forgotten first).
KEY_CACHE_SIZE = 4096


def _apply(
    change: Callable[[Pathway, AgentConfig], tuple[Pathway, T]], document: dict[str, Any], agent: AgentConfig
) -> tuple[T, dict[str, Any], bool]:
    """``change`` applied to the stored ``document``: its result, the new pathway as JSON, and
    whether that JSON equals ``document`` (the change changed nothing)."""
    pathway, result = change(Pathway.model_validate(document), agent)
    new = pathway.to_json()
    return result, new, new == document


def _stale(base: int, current: PathwayVersion) -> Conflict:
    """The refusal of a save based on version ``base`` when ``current`` is the current version."""
    when = current.created_at.isoformat().replace("+00:00", "Z")
    saved = f"saved by {current.author} at {when}" if current.author else f"saved at {when}"
    if base < current.version:
        what = f"the pathway changed since version {base}: version {current.version} is current ({saved})"
    else:
        what = f"the pathway has no version {base}: version {current.version} is current ({saved})"
    return Conflict(
        f"{what}; reload it, apply your edits to it again and save (based on version {current.version})",
        code="pathway_version_conflict",
        details={
            "basedOn": base,
            "currentVersion": current.version,
            "author": current.author,
            "savedAt": when,
            "note": current.note,
        },
    )


class ProjectStore:
    """``key_cache_seconds``: how long a key found live is trusted without reading it again
    (``Settings.key_cache_seconds``); a revocation through this store forgets them all."""

    def __init__(
        self, engine: AsyncEngine, turn_engine: AnyEngine | None = None, *, key_cache_seconds: float = 0
    ):
        self.engine = engine
        #: For what every request or turn reads: the key lookup, a new session's basis
        #: (``database.make_turn_engine``).
        self.turn_engine = turn_engine or engine
        self.key_cache_seconds = key_cache_seconds
        #: Live keys by digest, with when to read them again (only keys found live: a flood of
        #: unknown keys cannot fill it).
        self._keys: OrderedDict[str, tuple[float, ApiKey]] = OrderedDict()

    # Projects --------------------------------------------------------------------------

    async def create_project(
        self,
        name: str,
        agent: AgentConfig,
        pathway: Pathway,
        *,
        author: str = "",
        project_id: str | None = None,
    ) -> Project:
        """Create a project with its agent and the first version of its pathway, atomically."""
        now = utcnow()
        pid = project_id or keys.new_id("proj")
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                insert(projects).values(id=pid, name=name, pathway_version=1, created_at=now, updated_at=now)
            )
            await conn.execute(
                insert(agents).values(
                    project_id=pid, id=keys.new_id("agent"), config=agent.to_json(), updated_at=now
                )
            )
            await conn.execute(
                insert(pathway_versions).values(
                    project_id=pid,
                    version=1,
                    schema_version=SCHEMA_VERSION,
                    document=pathway.to_json(),
                    created_at=now,
                    author=author,
                    note="created",
                )
            )
        return Project(id=pid, name=name, pathway_version=1, created_at=now, updated_at=now)

    async def get_project(self, project_id: str) -> Project | None:
        async with read_transaction(self.engine) as conn:
            row = (await conn.execute(select(projects).where(projects.c.id == project_id))).first()
        return Project(**row._mapping) if row else None

    async def session_basis(self, project_id: str) -> tuple[int, datetime] | None:
        """What a new session starts from: the project's pathway version and its agent's stamp
        (``updatedAt``, the key of the parsed-agent cache), or None for no such project.

        One read on the turn's engine: a conversation's first turn creates its session.
        """
        async with read_transaction(self.turn_engine) as conn:
            row = (await conn.execute(_SESSION_BASIS, {"p_project": project_id})).first()
        return (int(row.pathway_version), row.updated_at) if row is not None else None

    async def list_projects(self, project_ids: Sequence[str] | None = None) -> list[Project]:
        query = select(projects).order_by(projects.c.created_at)
        if project_ids is not None:
            query = query.where(projects.c.id.in_(list(project_ids)))
        async with read_transaction(self.engine) as conn:
            rows = (await conn.execute(query)).all()
        return [Project(**row._mapping) for row in rows]

    async def count_projects(self) -> int:
        async with read_transaction(self.engine) as conn:
            return int((await conn.execute(select(func.count()).select_from(projects))).scalar_one())

    # Keys ------------------------------------------------------------------------------

    async def create_key(
        self, kind: keys.KeyKind, project_ids: Sequence[str], name: str = ""
    ) -> tuple[ApiKey, str]:
        """Create a key; returns its record and the plaintext, which is never stored."""
        if not project_ids:
            raise NotFound("a key must reach at least one project")
        plaintext = keys.generate(kind)
        now = utcnow()
        key_id = keys.new_id("key")
        async with write_transaction(self.engine) as conn:
            found = (
                await conn.execute(select(projects.c.id).where(projects.c.id.in_(list(project_ids))))
            ).scalars()
            missing = set(project_ids) - set(found)
            if missing:
                raise NotFound(f"no project with id {sorted(missing)[0]!r}")
            await conn.execute(
                insert(api_keys).values(
                    id=key_id,
                    kind=kind,
                    key_hash=keys.digest(plaintext),
                    hint=keys.hint(plaintext),
                    name=name,
                    created_at=now,
                )
            )
            await conn.execute(
                insert(api_key_projects), [{"key_id": key_id, "project_id": p} for p in project_ids]
            )
        record = ApiKey(
            id=key_id,
            kind=kind,
            hint=keys.hint(plaintext),
            name=name,
            project_ids=frozenset(project_ids),
            created_at=now,
            revoked_at=None,
        )
        return record, plaintext

    async def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; False when no such key exists. Revoking twice is harmless."""
        try:
            return await self._revoke(key_id)
        finally:
            # After the commit: a lookup running meanwhile may have remembered the key live.
            self._keys.clear()

    async def _revoke(self, key_id: str) -> bool:
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            if result.rowcount:
                return True
            exists = (await conn.execute(select(api_keys.c.id).where(api_keys.c.id == key_id))).first()
            return exists is not None

    async def find_key(self, plaintext: str) -> ApiKey | None:
        """The live (not revoked) key with this plaintext, or None. Reads only."""
        if not keys.well_formed(plaintext):
            return None
        hashed = keys.digest(plaintext)
        cached = self._keys.get(hashed)
        if cached is not None:
            if cached[0] > time.monotonic():
                self._keys.move_to_end(hashed)
                return cached[1]
            del self._keys[hashed]
        async with read_transaction(self.turn_engine) as conn:
            # One statement: the key, with one row per project it reaches (every request pays it).
            rows = (await conn.execute(_KEY_WITH_REACH, {"p_hash": hashed})).all()
        row = rows[0] if rows else None
        if row is None or row.revoked_at is not None or not keys.matches(plaintext, row.key_hash):
            return None
        key = ApiKey(
            id=row.id,
            kind=row.kind,
            hint=row.hint,
            name=row.name,
            project_ids=frozenset(r.project_id for r in rows if r.project_id is not None),
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )
        if self.key_cache_seconds > 0:
            self._keys[hashed] = (time.monotonic() + self.key_cache_seconds, key)
            if len(self._keys) > KEY_CACHE_SIZE:
                self._keys.popitem(last=False)
        return key

    async def list_keys(self) -> list[ApiKey]:
        async with read_transaction(self.engine) as conn:
            rows = (await conn.execute(select(api_keys).order_by(api_keys.c.created_at))).all()
            links = (await conn.execute(select(api_key_projects))).all()
        reach: dict[str, set[str]] = {}
        for link in links:
            reach.setdefault(link.key_id, set()).add(link.project_id)
        return [
            ApiKey(
                id=r.id,
                kind=r.kind,
                hint=r.hint,
                name=r.name,
                project_ids=frozenset(reach.get(r.id, ())),
                created_at=r.created_at,
                revoked_at=r.revoked_at,
            )
            for r in rows
        ]

    # Agent -----------------------------------------------------------------------------

    async def get_agent(self, project_id: str) -> StoredAgent:
        """The project's agent. Never fails on what was stored: a value that no longer
        validates is left out and listed in ``problems`` (see :meth:`agent_problems`)."""
        async with read_transaction(self.engine) as conn:
            row = (await conn.execute(select(agents).where(agents.c.project_id == project_id))).first()
        if row is None:
            raise NotFound("Project not found")
        config, problems = load_stored(row.config, f"project {project_id} agent")
        return StoredAgent(
            id=row.id,
            project_id=row.project_id,
            config=config,
            updated_at=row.updated_at,
            problems=tuple(problems),
        )

    async def agent_problems(self) -> list[tuple[str, list[str]]]:
        """(project id, problems) of every stored agent config that no longer validates."""
        async with read_transaction(self.engine) as conn:
            rows = (await conn.execute(select(agents.c.project_id, agents.c.config))).all()
        found = []
        for row in rows:
            _, problems = read_stored(row.config)
            if problems:
                found.append((row.project_id, problems))
        return found

    async def save_agent(self, project_id: str, config: AgentConfig) -> StoredAgent:
        now = utcnow()
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                update(agents)
                .where(agents.c.project_id == project_id)
                .values(config=config.to_json(), updated_at=now)
            )
            if not result.rowcount:
                raise NotFound("Project not found")
            agent_id = (
                await conn.execute(select(agents.c.id).where(agents.c.project_id == project_id))
            ).scalar_one()
        return StoredAgent(id=agent_id, project_id=project_id, config=config, updated_at=now)

    async def update_agent(self, project_id: str, change: AgentChange) -> StoredAgent:
        """Read the agent and the current pathway, apply ``change``, store what it returns.

        One write transaction holding the project row, as :meth:`update_pathway` does (a
        row lock on PostgreSQL; SQLite's writers are serialised): an agent edit and a
        pathway edit never check themselves against each other's old state. ``change``
        raises to store nothing.
        """
        now = utcnow()
        async with write_transaction(self.engine) as conn:
            version = await self._lock_project(conn, project_id)
            current = await self._get_pathway(conn, project_id, version)
            row = (await conn.execute(select(agents).where(agents.c.project_id == project_id))).one()
            previous, _ = load_stored(row.config, f"project {project_id} agent")
            # Parsing grows with the pathway: a worker thread, not the loop.
            pathway = await heavy(Pathway.model_validate, current.document)
            config = await change(dict(row.config), previous, pathway)
            await conn.execute(
                update(agents)
                .where(agents.c.project_id == project_id)
                .values(config=config.to_json(), updated_at=now)
            )
        return StoredAgent(id=row.id, project_id=project_id, config=config, updated_at=now)

    async def _lock_project(self, conn: AsyncConnection, project_id: str) -> int:
        """The project's current pathway version, its row locked until the transaction ends."""
        version = (
            await conn.execute(
                select(projects.c.pathway_version).where(projects.c.id == project_id).with_for_update()
            )
        ).scalar_one_or_none()
        if version is None:
            raise NotFound("Project not found")
        return int(version)

    # Pathway versions ------------------------------------------------------------------

    async def get_pathway(self, project_id: str, version: int | None = None) -> PathwayVersion:
        """A pathway version (the current one when ``version`` is None)."""
        async with read_transaction(self.engine) as conn:
            return await self._get_pathway(conn, project_id, version)

    async def _get_pathway(
        self, conn: AsyncConnection, project_id: str, version: int | None
    ) -> PathwayVersion:
        if version is None:
            version = (
                await conn.execute(select(projects.c.pathway_version).where(projects.c.id == project_id))
            ).scalar_one_or_none()
            if version is None:
                raise NotFound("Project not found")
        row = (
            await conn.execute(
                select(pathway_versions).where(
                    pathway_versions.c.project_id == project_id, pathway_versions.c.version == version
                )
            )
        ).first()
        if row is None:
            raise NotFound(f"pathway version {version} not found")
        return PathwayVersion(**row._mapping)

    async def save_pathway(
        self, project_id: str, pathway: Pathway, *, author: str = "", note: str = ""
    ) -> PathwayVersion:
        """Store ``pathway`` as a new immutable version and make it current (none is made when
        it equals the current version: that one is answered)."""
        saved, _ = await self.update_pathway(
            project_id, lambda _current, _agent: (pathway, None), author=author, note=note
        )
        return saved

    async def update_pathway(
        self,
        project_id: str,
        change: Callable[[Pathway, AgentConfig], tuple[Pathway, T]],
        *,
        author: str = "",
        note: str = "",
        based_on: int | None = None,
    ) -> tuple[PathwayVersion, T]:
        """Read the current pathway, apply ``change``, store the result as a new version.

        One write transaction (the project row is locked on PostgreSQL; SQLite's
        ``BEGIN IMMEDIATE`` serialises writers), so two concurrent edits never overwrite
        each other. ``change`` is pure: it returns the new pathway and a value for the
        caller, or raises, in which case nothing is stored.

        ``based_on``: the version the caller's edit started from. When it is given and is
        not the current version, :class:`Conflict` is raised and nothing is stored; checked
        under the same lock as the write, so of two saves based on the same version exactly
        one is stored. When the new document equals the current one, nothing is stored and
        the current version is answered (a save that changes nothing makes no version).
        """
        now = utcnow()
        async with write_transaction(self.engine) as conn:
            version = await self._lock_project(conn, project_id)
            current = await self._get_pathway(conn, project_id, version)
            if based_on is not None and based_on != version:
                raise _stale(based_on, current)
            agent_row = (
                await conn.execute(select(agents.c.config).where(agents.c.project_id == project_id))
            ).one()
            agent, _ = load_stored(agent_row.config, f"project {project_id} agent")
            # Parsing, checking and dumping grow with the pathway: a worker thread, not the loop.
            result, document, unchanged = await heavy(_apply, change, current.document, agent)
            if unchanged:
                return current, result
            latest = (
                await conn.execute(
                    select(func.max(pathway_versions.c.version)).where(
                        pathway_versions.c.project_id == project_id
                    )
                )
            ).scalar_one()
            new = latest + 1
            await conn.execute(
                insert(pathway_versions).values(
                    project_id=project_id,
                    version=new,
                    schema_version=SCHEMA_VERSION,
                    document=document,
                    created_at=now,
                    author=author,
                    note=note,
                )
            )
            await conn.execute(
                update(projects)
                .where(projects.c.id == project_id)
                .values(pathway_version=new, updated_at=now)
            )
        return PathwayVersion(project_id, new, SCHEMA_VERSION, document, now, author, note), result

    async def list_pathway_versions(self, project_id: str) -> list[PathwayVersion]:
        async with read_transaction(self.engine) as conn:
            rows = (
                await conn.execute(
                    select(pathway_versions)
                    .where(pathway_versions.c.project_id == project_id)
                    .order_by(pathway_versions.c.version.desc())
                )
            ).all()
        return [PathwayVersion(**row._mapping) for row in rows]

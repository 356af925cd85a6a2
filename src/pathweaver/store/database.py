"""Connecting to the database: engine set-up, SQLite pragmas, migrations at start-up.

SQLite runs in WAL mode with a busy timeout; write transactions start with
``BEGIN IMMEDIATE`` (so two writers queue on the busy timeout instead of failing with
"database is locked" when a read transaction tries to upgrade). Reads use plain ``BEGIN``.

A turn's short statements go through a second engine on the same SQLite file
(:func:`make_turn_engine`) that runs them on the event loop's thread (``inline_sqlite.py``).

Within one process, SQLite write transactions also queue on an asyncio lock before
``BEGIN IMMEDIATE``: SQLite's busy handler wakes waiting writers in no order (a writer could
wait seconds while later ones got through), the lock serves them first come, first served.
Between processes the busy timeout still decides. A writer waits on the lock no longer than
the busy timeout either, then fails with :class:`~pathweaver.errors.StorageBusy` (503): a
stuck writer (or a write transaction opened inside another one, which could never get the
lock) fails like a locked database would, instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, overload

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pathweaver.errors import StorageBusy
from pathweaver.store.inline_sqlite import InlineConnection, InlineEngine, Prepared, prepare_connection

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(
    url: str, *, sqlite_synchronous: str = "NORMAL", schema: str | None = None, echo: bool = False
) -> AsyncEngine:
    """Create the async engine for ``url`` (an async SQLAlchemy URL).

    ``schema`` (PostgreSQL) puts every table in that schema, through the connection's
    ``search_path``; :func:`migrate` creates it when missing.
    """
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            json_serializer=_dumps,
        )
        _configure_sqlite(engine, sqlite_synchronous, SQLITE_BUSY_TIMEOUT_MS)
        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    engine = create_async_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        json_serializer=_dumps,
        connect_args=connect_args,
    )
    return engine


def make_turn_engine(
    engine: AsyncEngine, *, sqlite_synchronous: str = "NORMAL"
) -> AsyncEngine | InlineEngine:
    """The engine for a turn's short statements: on SQLite, one that runs them on the event
    loop's thread (``store/inline_sqlite.py``), sharing ``engine``'s database and writer
    queue; ``engine`` itself elsewhere (asyncpg is natively async) and for in-memory SQLite.
    """
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:" or "mode=memory" in str(engine.url):
        return engine
    turn_engine = InlineEngine(
        path,
        busy_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
        synchronous=sqlite_synchronous,
        json_serializer=_dumps,
        echo=engine.echo,
    )
    _writers[turn_engine.sync_engine] = _writers.setdefault(engine.sync_engine, asyncio.Lock())
    return turn_engine


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _configure_sqlite(engine: AsyncEngine, synchronous: str, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy's "begin" event decides how transactions start (see below).
        prepare_connection(dbapi_connection, synchronous, busy_timeout_ms)

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("pathweaver_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_writers: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


#: An engine the store runs statements on: SQLAlchemy's asyncio engine, or the inline one.
AnyEngine = AsyncEngine | InlineEngine
#: A connection in a transaction of either (both ``await conn.execute(statement, params)``).
AnyConnection = AsyncConnection | InlineConnection


async def rows(
    conn: AnyConnection, prepared: Prepared, params: Mapping[str, Any]
) -> Sequence[Mapping[Any, Any]]:
    """Run a :class:`~pathweaver.store.inline_sqlite.Prepared` statement; the rows it returns
    (by column name), none for a statement without rows."""
    if isinstance(conn, InlineConnection) and conn.runs_prepared:
        return await conn.rows(prepared, params)
    result = await conn.execute(prepared.statement, params)
    return result.mappings().all() if result.returns_rows else []


async def insert_many(conn: AnyConnection, prepared: Prepared, values: Sequence[Mapping[str, Any]]) -> None:
    """Run a prepared INSERT once per row of ``values`` (one ``executemany``)."""
    if isinstance(conn, InlineConnection) and conn.runs_prepared:
        await conn.insert_many(prepared, values)
    else:
        await conn.execute(prepared.statement, list(values))


@overload
def write_transaction(engine: AsyncEngine) -> AbstractAsyncContextManager[AsyncConnection]: ...
@overload
def write_transaction(engine: AnyEngine) -> AbstractAsyncContextManager[AnyConnection]: ...
@asynccontextmanager
async def write_transaction(engine: AnyEngine) -> AsyncIterator[Any]:
    """A transaction that will write: ``BEGIN IMMEDIATE`` on SQLite, plain on PostgreSQL.

    On SQLite, this process's writers take turns in arrival order (see the module docstring).
    """
    if engine.dialect.name != "sqlite":
        assert isinstance(engine, AsyncEngine)
        async with engine.connect() as conn:
            conn = await conn.execution_options(pathweaver_write=True)
            async with conn.begin():
                yield conn
        return
    lock = _writers.get(engine.sync_engine)
    if lock is None:
        lock = _writers[engine.sync_engine] = asyncio.Lock()
    try:
        async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):
            await lock.acquire()
    except TimeoutError:
        raise StorageBusy("the database is busy with other writes; retry shortly", retry_after=1.0) from None
    try:
        if isinstance(engine, InlineEngine):
            async with engine.transaction(write=True) as inline:
                yield inline
            if engine.checkpoint_due:  # with the lock held, should it wait: see ``inline_sqlite``
                await engine.checkpoint()
            return
        async with engine.connect() as conn:
            conn = await conn.execution_options(pathweaver_write=True)
            async with conn.begin():
                yield conn
    finally:
        lock.release()


@overload
def read_transaction(engine: AsyncEngine) -> AbstractAsyncContextManager[AsyncConnection]: ...
@overload
def read_transaction(engine: AnyEngine) -> AbstractAsyncContextManager[AnyConnection]: ...
@asynccontextmanager
async def read_transaction(engine: AnyEngine) -> AsyncIterator[Any]:
    if isinstance(engine, InlineEngine):
        async with engine.transaction(write=False) as inline:
            yield inline
        return
    async with engine.connect() as conn, conn.begin():
        yield conn


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine, schema: str | None = None) -> None:
    """Bring the schema to the latest migration (idempotent; safe to call at every start).

    On PostgreSQL an advisory lock makes concurrent workers migrate one at a time; on
    SQLite the ``BEGIN IMMEDIATE`` write transaction does the same.
    """
    async with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
            if schema:
                await conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))

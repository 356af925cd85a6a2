"""SQLite for a turn's short statements, run on the event loop's thread.

SQLAlchemy's asyncio layer over aiosqlite costs far more CPU than SQLite itself on a
turn's short statements: each call hops to aiosqlite's thread and back, and each statement
runs in a greenlet of its own behind several awaits. Measured on a transaction of a lease
update and two small reads: about 500 µs of CPU through ``AsyncEngine``, 67 µs through a
plain synchronous ``Engine``, 14 µs in bare ``sqlite3``. So the turn's statements go
through a *synchronous* SQLAlchemy engine (same statements, same types, same events),
called directly from the event loop: :class:`InlineEngine` and :class:`InlineConnection`
give it the ``await conn.execute(...)`` surface the store uses everywhere else.

It is only for statements that are small and bounded: the store's turn path (key lookup,
session lease, history window, commit). Everything else keeps the threaded engine, so a
large scan or a bulk import never stalls other requests. What could block stays off the
loop thread:

- **Waiting for a lock.** The connections' own busy timeout is 0; a statement that finds
  the database locked by another process is retried after a short ``asyncio.sleep``, with
  growing pauses, until the busy timeout (:data:`~pathweaver.store.database.SQLITE_BUSY_TIMEOUT_MS`).
- **The disk.** With ``synchronous=NORMAL`` (the default) a COMMIT appends to the WAL
  without syncing: it runs inline. The WAL checkpoint that SQLite would otherwise run inside
  a COMMIT now and then (copying pages and syncing the file) is turned off on these
  connections; every :data:`CHECKPOINT_EVERY` write transactions (or :data:`CHECKPOINT_ROWS`
  rows written) one runs in a thread of its own (:data:`COMMITS`), while writers go on: no
  turn waits for it. Behind a steady stream of writers such a checkpoint never reaches the
  end of the WAL, so the WAL is never started over and grows; once it passes
  :data:`WAL_LIMIT_BYTES`, the checkpoint runs while the writer that reached the count
  still holds the process's write lock (``database.write_transaction``), so it gets to the
  end, and truncates the file (a WAL started over keeps its file's size, which would then
  say nothing of what is left to copy), as SQLite's own checkpoint in a COMMIT would
  start it over. With ``synchronous=FULL`` every COMMIT syncs, so it runs in that thread. That
  thread is not the loop's default executor, where embeddings and document parsing run: a
  busy ingestion must not hold up the turns' commits. One thread is enough: a process's
  SQLite writers take turns (``database.write_transaction``). Reads end without touching
  the disk.
- **The pool.** A connection is held only while its transaction runs (statements that
  return at once, a busy wait, a commit); the pool opens more when all are out rather than
  make the loop thread wait for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, CursorResult, Engine, Executable, create_engine, event
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql.dml import UpdateBase

log = logging.getLogger("pathweaver.store")

#: Where write transactions commit with ``synchronous=FULL``, and WAL checkpoints run (see
#: the module docstring).
COMMITS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pathweaver-sqlite-commit")

#: Write transactions committed inline, or rows they changed, between two WAL checkpoints:
#: a turn's transaction writes a few pages, a 500-message request some hundreds; about
#: SQLite's own default of a checkpoint per 1,000 pages.
CHECKPOINT_EVERY = 200
CHECKPOINT_ROWS = 1000
#: A WAL file larger than this is checkpointed with the process's writers held, and
#: truncated (see above): about SQLite's own default of 1,000 pages.
WAL_LIMIT_BYTES = 4 * 1024 * 1024

#: Connections kept open between transactions (more are opened, and closed after use, when
#: more transactions than this are between a statement and their commit at once).
POOL_SIZE = 8

# Retried: the database is locked by another connection (SQLITE_BUSY, SQLITE_LOCKED, and
# SQLITE_BUSY_RECOVERY). Not SQLITE_BUSY_SNAPSHOT: retrying that statement cannot help.
_RETRIED = {5, 6, 261}

T = TypeVar("T")


def prepare_connection(
    dbapi_connection: Any, synchronous: str, busy_timeout_ms: int, *, autocheckpoint: bool = True
) -> None:
    """Set up a new SQLite connection as every engine of the store wants it: transactions
    begun explicitly (``isolation_level=None``), WAL, the busy timeout, ``synchronous``,
    foreign keys; ``autocheckpoint=False`` leaves WAL checkpoints to the caller."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    if not autocheckpoint:
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


class Prepared:
    """A statement of a turn's hot path, built once with SQLAlchemy Core.

    An :class:`InlineConnection` runs it on its DBAPI connection directly
    (:meth:`InlineConnection.rows`): compiled once per engine to SQLite's SQL, with the
    bind and result processors of its columns' types (the conversions SQLAlchemy itself
    applies: datetimes, JSON, booleans), but without SQLAlchemy's execution context per
    statement, which costs several times what SQLite takes to run such a statement. Other
    connections (PostgreSQL) run :attr:`statement` as usual (``database.rows``).

    ``keys``: for an INSERT, the columns its parameters name; the others are left to the
    database (no Python-side column default runs: :func:`_compile` refuses a statement
    that would need one).
    """

    __slots__ = ("keys", "statement")

    def __init__(self, statement: Executable, *, keys: Sequence[str] | None = None):
        self.statement = statement
        self.keys = tuple(keys) if keys is not None else None


Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    """The parameters, in the order of the SQL's ``?``."""
    fixed: Mapping[str, Any]
    """Values the statement carries itself (literals in its clauses)."""
    binds: tuple[Processor, ...]
    columns: tuple[str, ...]
    """The names of the columns it returns (none for a statement without rows)."""
    results: tuple[Processor, ...]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        fixed = self.fixed
        values = [params[name] if name in params else fixed[name] for name in self.names]
        return [
            value if bind is None else bind(value) for bind, value in zip(self.binds, values, strict=True)
        ]

    def mappings(self, rows: list[Any]) -> list[dict[str, Any]]:
        columns, results = self.columns, self.results
        return [
            {
                name: value if result is None else result(value)
                for name, result, value in zip(columns, results, row, strict=True)
            }
            for row in rows
        ]


def _compile(prepared: Prepared, dialect: Dialect) -> _Compiled:
    statement: Any = prepared.statement
    keys = list(prepared.keys) if prepared.keys is not None else None
    compiled: Any = statement.compile(dialect=dialect, column_keys=keys)
    binds = compiled.binds
    if any(bind.expanding for bind in binds.values()):
        raise ValueError("a prepared statement cannot take a list of values (IN)")
    if keys is not None and isinstance(statement, UpdateBase):
        missing = [c.key for c in statement.table.c if c.default is not None and c.key not in keys]
        if missing:
            raise ValueError(f"a prepared INSERT must name the columns with defaults: {missing}")
    names = tuple(compiled.positiontup or ())
    columns = list(statement.exported_columns)
    return _Compiled(
        sql=compiled.string,
        names=names,
        fixed={name: bind.effective_value for name, bind in binds.items() if not bind.required},
        binds=tuple(binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names),
        columns=tuple(c.key for c in columns),
        results=tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns),
    )


class InlineConnection:
    """A synchronous SQLAlchemy connection behind the awaitable surface of ``AsyncConnection``
    that the store uses (``execute``, ``exec_driver_sql``, ``dialect``), and :meth:`rows`
    and :meth:`insert_many` for :class:`Prepared` statements."""

    __slots__ = ("_busy_timeout", "_conn", "_cursor", "_engine")

    def __init__(self, conn: Connection, engine: InlineEngine):
        self._conn = conn
        self._engine = engine
        self._busy_timeout = engine.busy_timeout
        self._cursor: Any = None  # one DBAPI cursor for the transaction's prepared statements

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return await self._retrying(lambda: self._conn.execute(statement, parameters))

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> CursorResult[Any]:
        return await self._retrying(lambda: self._conn.exec_driver_sql(statement, parameters))

    @property
    def runs_prepared(self) -> bool:
        """Whether :meth:`rows` and :meth:`insert_many` may be used: not with ``echo``, whose
        logging only SQLAlchemy's own path does (``database.rows`` takes that one then)."""
        return not self._engine.echo

    async def rows(self, prepared: Prepared, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run ``prepared``; the rows it returns, as dicts by column name (none for a
        statement without rows)."""
        compiled = self._engine.compiled(prepared)
        arguments = compiled.arguments(params)
        found = await self._retrying(lambda: self._run(compiled.sql, arguments, fetch=bool(compiled.columns)))
        return compiled.mappings(found)

    async def insert_many(self, prepared: Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run ``prepared`` (without rows to return) once per row of ``rows``."""
        compiled = self._engine.compiled(prepared)
        arguments = [compiled.arguments(row) for row in rows]
        await self._retrying(lambda: self._run(compiled.sql, arguments, many=True))

    async def begin(self, *, write: bool) -> None:
        """``BEGIN``, on the DBAPI cursor (SQLAlchemy's own begin does nothing on pysqlite:
        the connection is in autocommit mode, see :func:`prepare_connection`). SQLAlchemy's
        connection does not know of it unless a statement goes through it (:meth:`execute`),
        which begins its own transaction object (no statement) on top."""
        sql = "BEGIN IMMEDIATE" if write else "BEGIN"
        await self._retrying(lambda: self._run(sql, ()))

    def commit(self) -> None:
        """``COMMIT``: through SQLAlchemy when it knows of the transaction (its ``commit``
        event), on the cursor otherwise (``before_cursor_execute`` sees it, in the thread
        that runs it)."""
        if self._conn.in_transaction():
            self._conn.commit()
        else:
            self._run("COMMIT", ())

    def rollback(self) -> None:
        raw: Any = self._conn.connection.driver_connection
        if self._conn.in_transaction():
            self._conn.rollback()
        elif raw.in_transaction:
            self._run("ROLLBACK", ())

    def _run(self, sql: str, arguments: Any, *, many: bool = False, fetch: bool = False) -> list[Any]:
        conn = self._conn
        cursor = self._cursor
        if cursor is None:
            raw: Any = conn.connection.driver_connection
            cursor = self._cursor = raw.cursor()
        try:
            # What SQLAlchemy's engine would tell its listeners (tests count statements).
            listeners = conn.dispatch.before_cursor_execute
            if listeners:
                listeners(conn, cursor, sql, arguments, None, many)
            if many:
                cursor.executemany(sql, arguments)
                return []
            cursor.execute(sql, arguments)
            return cursor.fetchall() if fetch else []
        except sqlite3.Error as error:
            # As SQLAlchemy raises it (``IntegrityError``, ``OperationalError``, ...).
            raise DBAPIError.instance(sql, arguments, error, sqlite3.Error) from error

    def close_cursor(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    async def _retrying(self, run: Callable[[], T]) -> T:
        try:  # the usual case: no lock in the way, no await, no retry bookkeeping
            return run()
        except OperationalError as error:
            if _code(error) not in _RETRIED:
                raise
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.001
        while True:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)
            try:
                return run()
            except OperationalError as error:
                if _code(error) not in _RETRIED or time.monotonic() + pause > deadline:
                    raise


async def _finished(commit: asyncio.Future[None]) -> None:
    """Wait for a commit running in its thread; a cancelled caller still waits for it to end
    (then is cancelled), so the connection never goes back to the pool mid-commit."""
    try:
        await asyncio.shield(commit)
    except asyncio.CancelledError:
        while not commit.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({commit})
        raise


def _code(error: OperationalError) -> int | None:
    return getattr(error.orig, "sqlite_errorcode", None)


class InlineEngine:
    """A synchronous engine on one SQLite file whose statements run on the loop's thread.

    ``transaction(write=...)`` is what ``database.read_transaction`` and
    ``database.write_transaction`` use; ``sync_engine`` is the SQLAlchemy engine (events
    listen there, as on an ``AsyncEngine``'s).
    """

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float,
        synchronous: str,
        json_serializer: Callable[[Any], str],
        echo: bool = False,
    ):
        self.busy_timeout = busy_timeout
        self.path = path
        self.echo = echo
        self._compiled: dict[Prepared, _Compiled] = {}
        #: Connections kept between transactions (see :meth:`transaction`); none once disposed.
        self._idle: list[Connection] = []
        self._disposed = False
        #: Whether COMMIT runs on the loop's thread (it does not sync: see the module docstring).
        self.inline_commit = synchronous.upper() not in ("FULL", "EXTRA")
        self._writes = 0
        self._rows = 0
        self._checkpointer: sqlite3.Connection | None = None
        self._background: asyncio.Future[None] | None = None
        self.sync_engine: Engine = create_engine(
            URL.create("sqlite", database=path),
            echo=echo,
            json_serializer=json_serializer,
            pool_size=POOL_SIZE,
            max_overflow=-1,  # never make the loop thread wait for a connection
            # A COMMIT may run in the commit thread, never at the same time as anything else
            # on that connection (a connection serves one transaction of one task at a time).
            connect_args={"timeout": 0, "check_same_thread": False},
        )

        @event.listens_for(self.sync_engine, "connect")
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Transactions begin as ``transaction`` says; checkpoints run in a thread.
            prepare_connection(dbapi_connection, synchronous, 0, autocheckpoint=not self.inline_commit)

    @property
    def dialect(self) -> Dialect:
        return self.sync_engine.dialect

    def compiled(self, prepared: Prepared) -> _Compiled:
        """``prepared`` as this engine runs it, compiled on first use."""
        compiled = self._compiled.get(prepared)
        if compiled is None:
            compiled = self._compiled[prepared] = _compile(prepared, self.sync_engine.dialect)
        return compiled

    @property
    def url(self) -> URL:
        return self.sync_engine.url

    @asynccontextmanager
    async def transaction(self, *, write: bool) -> AsyncIterator[InlineConnection]:
        """A transaction: ``BEGIN IMMEDIATE`` for one that will write, plain ``BEGIN`` otherwise.

        Commits when the block ends, rolls back when it raises (cancellation included).
        Its SQLAlchemy connection is one this engine keeps checked out (up to
        :data:`POOL_SIZE`): taking one from SQLAlchemy's pool and giving it back (events,
        a reset per return), and SQLAlchemy's transaction object, cost a turn more than its
        two transactions' BEGIN and COMMIT do.
        """
        conn = self._idle.pop() if self._idle else self.sync_engine.connect()
        inline = InlineConnection(conn, self)
        raw: Any = conn.connection.driver_connection
        try:
            await inline.begin(write=write)
            changes = raw.total_changes
            try:
                yield inline
            except BaseException:
                inline.rollback()
                raise
            if not write:
                inline.commit()
            elif self.inline_commit:
                inline.commit()  # holds the write lock already: nothing to wait for
                self._writes += 1
                self._rows += raw.total_changes - changes
            else:
                await _finished(asyncio.get_running_loop().run_in_executor(COMMITS, inline.commit))
        finally:
            inline.close_cursor()
            if (
                not self._disposed
                and len(self._idle) < POOL_SIZE
                and not conn.invalidated
                and not conn.in_transaction()
                and not raw.in_transaction
            ):
                self._idle.append(conn)
            else:
                conn.close()

    @property
    def checkpoint_due(self) -> bool:
        """Whether enough write transactions committed inline since the last checkpoint."""
        return self.inline_commit and (self._writes >= CHECKPOINT_EVERY or self._rows >= CHECKPOINT_ROWS)

    async def checkpoint(self) -> None:
        """Checkpoint the WAL in the commit thread (call holding the process's write lock).

        Waits for it only when the WAL has grown past :data:`WAL_LIMIT_BYTES`; otherwise it
        runs in the background, unless one still does.
        """
        self._writes = self._rows = 0
        loop = asyncio.get_running_loop()
        if self._wal_bytes() > WAL_LIMIT_BYTES:
            await loop.run_in_executor(COMMITS, self._run_checkpoint, "TRUNCATE")
        elif self._background is None or self._background.done():
            self._background = loop.run_in_executor(COMMITS, self._run_checkpoint, "PASSIVE")

    def _wal_bytes(self) -> int:
        try:
            return os.path.getsize(f"{self.path}-wal")
        except OSError:
            return 0

    def _run_checkpoint(self, mode: str) -> None:
        """PASSIVE copies what it can without waiting for readers or blocking writers (as
        SQLite's own automatic checkpoint does); TRUNCATE copies all and empties the file."""
        try:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    self.path, timeout=self.busy_timeout, check_same_thread=False
                )
            self._checkpointer.execute(f"PRAGMA wal_checkpoint({mode})")
        except sqlite3.Error:
            log.warning("SQLite WAL checkpoint failed; the next one will retry", exc_info=True)

    async def dispose(self) -> None:
        self._disposed = True  # a transaction still running closes its connection at its end
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        if self._background is not None:
            await self._background
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            await asyncio.get_running_loop().run_in_executor(COMMITS, checkpointer.close)
        self.sync_engine.dispose()

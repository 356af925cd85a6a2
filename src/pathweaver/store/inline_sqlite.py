"""SQLite for a turn's short statements, run on the event loop's thread.

aiosqlite hands every call (cursor, execute, fetch, close, begin, commit) to its own thread
and back: about 1 ms of CPU for a transaction of two statements, where SQLite itself takes
about 0.1 ms. A turn runs four such transactions, so those hand-offs were a third of its
cost. This module gives SQLAlchemy's aiosqlite adapter a connection with the same surface
that runs the statement at once instead (``create_async_engine(..., async_creator=...)``).

It is only for statements that are small and bounded: the store's turn path (key lookup,
session lease, history window, commit). Everything else keeps the threaded engine, so a
large scan or a bulk import never stalls other requests. What could block stays off the
loop thread:

- **Waiting for a lock.** The connection's own busy timeout is 0; a statement that finds
  the database locked by another process is retried after a short ``asyncio.sleep``, with
  growing pauses, until the busy timeout (:data:`~pathweaver.store.database.SQLITE_BUSY_TIMEOUT_MS`).
- **The disk.** COMMIT of a write transaction is where SQLite syncs (``synchronous=FULL``)
  and checkpoints the WAL; it runs in a thread of its own (:data:`COMMITS`, not the loop's
  default executor, where embeddings and document parsing run: a busy ingestion must not
  hold up the turns' commits). One thread is enough: a process's SQLite writers take turns
  (``database.write_transaction``). Reads end without touching the disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

#: Where write transactions commit (see the module docstring).
COMMITS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pathweaver-sqlite-commit")

# Retried: the database is locked by another connection (SQLITE_BUSY, SQLITE_LOCKED, and
# SQLITE_BUSY_RECOVERY). Not SQLITE_BUSY_SNAPSHOT: retrying that statement cannot help.
_RETRIED = {5, 6, 261}


class InlineCursor:
    """The aiosqlite cursor surface SQLAlchemy uses, running each call at once."""

    __slots__ = ("_connection", "_cursor", "arraysize")

    def __init__(self, connection: InlineConnection):
        self._connection = connection
        self._cursor = connection._conn.cursor()
        self.arraysize = 1

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        if sql.startswith("BEGIN IMMEDIATE"):
            self._connection.writing = True
        await self._connection.retrying(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> InlineCursor:
        await self._connection.retrying(lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size or self.arraysize)

    async def close(self) -> None:
        self._cursor.close()


class _RunNow:
    """Stands in for aiosqlite's request queue, which SQLAlchemy's adapter uses to set
    ``isolation_level``: the function runs at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


class InlineConnection:
    """The aiosqlite connection surface SQLAlchemy uses, over a stdlib ``sqlite3`` connection."""

    def __init__(self, path: str, busy_timeout: float):
        # check_same_thread=False: COMMIT runs in a worker thread (never at the same time
        # as anything else on this connection: SQLAlchemy uses a connection from one task).
        self._conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        self._tx = _RunNow()
        self.busy_timeout = busy_timeout
        #: In a ``BEGIN IMMEDIATE`` transaction (its COMMIT goes to a thread).
        self.writing = False

    def __await__(self) -> Any:
        # SQLAlchemy awaits what ``async_creator`` returns (aiosqlite connects in its thread).
        yield from ()
        return self

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def retrying(self, run: Callable[[], Any]) -> Any:
        deadline = None
        pause = 0.001
        while True:
            try:
                return run()
            except sqlite3.OperationalError as error:
                if getattr(error, "sqlite_errorcode", None) not in _RETRIED:
                    raise
                now = time.monotonic()
                deadline = deadline or now + self.busy_timeout
                if now + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def commit(self) -> None:
        if self.writing:
            self.writing = False
            await asyncio.get_running_loop().run_in_executor(COMMITS, self._conn.commit)
        else:
            self._conn.commit()

    async def rollback(self) -> None:
        self.writing = False
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()

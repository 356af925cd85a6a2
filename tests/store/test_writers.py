"""SQLite writers within one process: queued in arrival order, and never waiting forever."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from pathweaver.errors import StorageBusy
from pathweaver.store import database, inline_sqlite
from pathweaver.store.database import make_engine, make_turn_engine, read_transaction, write_transaction


async def test_writers_take_turns_in_arrival_order(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        async with write_transaction(engine) as conn:
            await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        order: list[int] = []

        async def writer(n: int) -> None:
            async with write_transaction(engine) as conn:
                await conn.exec_driver_sql(f"INSERT INTO t VALUES ({n})")
                order.append(n)

        gate = asyncio.Event()

        async def holder() -> None:
            async with write_transaction(engine):
                await gate.wait()

        first = asyncio.create_task(holder())
        await asyncio.sleep(0.01)
        waiting = []
        for n in range(5):
            waiting.append(asyncio.create_task(writer(n)))
            await asyncio.sleep(0.005)
        gate.set()
        await asyncio.gather(first, *waiting)
        assert order == [0, 1, 2, 3, 4]
    finally:
        await engine.dispose()


async def test_a_writer_behind_a_stuck_one_fails_with_storage_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 200)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        async with write_transaction(engine):
            # A write transaction opened inside another one can never get the lock: it
            # fails after the busy timeout instead of hanging the task forever.
            with pytest.raises(StorageBusy) as caught:
                async with write_transaction(engine):
                    pass
        assert caught.value.status == 503
        assert caught.value.retry_after
        # The lock is free again afterwards.
        async with write_transaction(engine) as conn:
            await conn.exec_driver_sql("SELECT 1")
    finally:
        await engine.dispose()


async def test_the_turn_engine_waits_for_another_process_s_lock_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    """The inline engine's connections never sleep in SQLite's busy handler on the loop's
    thread: a lock held elsewhere is waited for with asyncio, so other tasks keep running."""
    path = tmp_path / "w.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    turn_engine = make_turn_engine(engine)
    assert turn_engine is not engine
    try:
        async with write_transaction(engine) as conn:
            await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        other = sqlite3.connect(path, isolation_level=None)  # as another process would
        other.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def ticking() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        ticker = asyncio.create_task(ticking())

        async def write() -> None:
            async with write_transaction(turn_engine) as conn:
                await conn.exec_driver_sql("INSERT INTO t VALUES (1)")

        writer = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not writer.done()
        assert ticks >= 20  # the loop ran all along
        other.execute("COMMIT")
        await asyncio.wait_for(writer, 5)
        ticker.cancel()
        async with read_transaction(turn_engine) as conn:
            assert (await conn.exec_driver_sql("SELECT count(*) FROM t")).scalar_one() == 1
        other.close()
    finally:
        await turn_engine.dispose()
        await engine.dispose()


async def test_the_turn_engine_gives_up_after_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "w.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    turn_engine = make_turn_engine(engine)
    try:
        async with write_transaction(engine) as conn:
            await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="locked"):
            async with write_transaction(turn_engine):
                pass
        other.execute("ROLLBACK")
        other.close()
        async with write_transaction(turn_engine) as conn:  # the pool's connection still works
            await conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    finally:
        await turn_engine.dispose()
        await engine.dispose()


async def test_both_engines_share_one_writer_queue(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    turn_engine = make_turn_engine(engine)
    try:
        async with write_transaction(engine) as conn:
            await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        gate = asyncio.Event()
        order: list[str] = []

        async def hold() -> None:
            async with write_transaction(engine):
                order.append("threaded")
                await gate.wait()

        async def turn_write() -> None:
            async with write_transaction(turn_engine) as conn:
                order.append("turn")
                await conn.exec_driver_sql("INSERT INTO t VALUES (1)")

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0.01)
        second = asyncio.create_task(turn_write())
        await asyncio.sleep(0.05)
        assert order == ["threaded"]  # queued in-process, not spinning on SQLite's lock
        gate.set()
        await asyncio.gather(holder, second)
        assert order == ["threaded", "turn"]
    finally:
        await turn_engine.dispose()
        await engine.dispose()


def test_postgresql_and_in_memory_sqlite_keep_one_engine() -> None:
    memory = make_engine("sqlite+aiosqlite:///:memory:")
    assert make_turn_engine(memory) is memory


async def test_turn_commits_do_not_wait_behind_the_default_executor(tmp_path: Path) -> None:
    """Embeddings and document parsing fill the loop's default executor; a turn's COMMIT has
    a thread of its own, so it goes through while every default thread is busy."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    turn_engine = make_turn_engine(engine)
    release = threading.Event()
    loop = asyncio.get_running_loop()
    busy = [loop.run_in_executor(None, release.wait) for _ in range(64)]  # more than it has threads
    try:

        async def write() -> None:
            async with write_transaction(turn_engine) as conn:
                await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
                await conn.exec_driver_sql("INSERT INTO t VALUES (1)")

        await asyncio.wait_for(write(), 10)

        async def read() -> int:
            async with read_transaction(turn_engine) as conn:
                return int((await conn.exec_driver_sql("SELECT count(*) FROM t")).scalar_one())

        assert await asyncio.wait_for(read(), 10) == 1
        assert not any(job.done() for job in busy)  # they were all still holding their threads
    finally:
        release.set()
        await asyncio.gather(*busy)
        await turn_engine.dispose()
        await engine.dispose()


async def test_the_turn_engine_checkpoints_the_wal_in_its_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its COMMITs do not checkpoint (that would copy pages and sync on the loop's thread):
    every few write transactions a checkpoint runs in the commit thread, and once the WAL
    has grown past its limit (a steady stream of writes) one that holds the writers, so the
    WAL stops growing instead of holding every transaction ever committed."""
    monkeypatch.setattr(inline_sqlite, "CHECKPOINT_EVERY", 10)
    monkeypatch.setattr(inline_sqlite, "WAL_LIMIT_BYTES", 100_000)
    path = tmp_path / "w.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    turn_engine = make_turn_engine(engine)
    assert isinstance(turn_engine, inline_sqlite.InlineEngine) and turn_engine.inline_commit
    wal = Path(f"{path}-wal")
    try:
        async with write_transaction(engine) as conn:
            await conn.exec_driver_sql("CREATE TABLE t (n INTEGER, padding TEXT)")
        sizes = []
        for _ in range(3):
            for n in range(50):
                async with write_transaction(turn_engine) as conn:
                    await conn.exec_driver_sql("INSERT INTO t VALUES (?, ?)", (n, "x" * 3000))
            sizes.append(wal.stat().st_size)  # noqa: ASYNC240 - a test's stat
        # 50 transactions of a page or more each: about 200 KB a round if nothing is
        # checkpointed; checkpointed WAL frames are written over again.
        assert sizes[2] <= sizes[0] * 1.5, sizes
        async with read_transaction(turn_engine) as conn:
            assert (await conn.exec_driver_sql("SELECT count(*) FROM t")).scalar_one() == 150
        # Few transactions that write many rows each are checkpointed as well.
        monkeypatch.setattr(inline_sqlite, "CHECKPOINT_EVERY", 10**9)
        monkeypatch.setattr(inline_sqlite, "CHECKPOINT_ROWS", 100)
        for _ in range(10):  # about 60 KB each: 600 KB of WAL if nothing is checkpointed
            async with write_transaction(turn_engine) as conn:
                await conn.exec_driver_sql(
                    "INSERT INTO t VALUES (?, ?)", [(n, "x" * 1000) for n in range(60)]
                )
        assert wal.stat().st_size < 300_000  # noqa: ASYNC240 - a test's stat
    finally:
        await turn_engine.dispose()
        await engine.dispose()


async def test_with_synchronous_full_the_turn_engine_commits_in_its_thread(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", sqlite_synchronous="FULL")
    turn_engine = make_turn_engine(engine, sqlite_synchronous="FULL")
    assert isinstance(turn_engine, inline_sqlite.InlineEngine) and not turn_engine.inline_commit
    threads: list[str] = []

    def on_commit(conn: object) -> None:
        threads.append(threading.current_thread().name)

    event.listen(turn_engine.sync_engine, "commit", on_commit)
    try:
        async with write_transaction(turn_engine) as conn:
            await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        async with read_transaction(turn_engine) as conn:
            await conn.exec_driver_sql("SELECT count(*) FROM t")
        assert threads[0].startswith("pathweaver-sqlite-commit")  # the write synced off the loop
        assert threads[1] == threading.current_thread().name  # a read has nothing to sync
    finally:
        await turn_engine.dispose()
        await engine.dispose()


async def test_a_checkpoint_of_a_small_wal_does_not_hold_up_the_writers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inline_sqlite, "CHECKPOINT_EVERY", 2)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    turn_engine = make_turn_engine(engine)
    assert isinstance(turn_engine, inline_sqlite.InlineEngine)
    release = threading.Event()
    started = threading.Event()
    checkpoint = turn_engine._run_checkpoint

    def slow_checkpoint(mode: str) -> None:
        started.set()
        release.wait(10)
        checkpoint(mode)

    monkeypatch.setattr(turn_engine, "_run_checkpoint", slow_checkpoint)
    try:
        async with write_transaction(engine) as conn:
            await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        for n in range(2):  # a checkpoint is due after the second
            async with write_transaction(turn_engine) as conn:
                await conn.exec_driver_sql("INSERT INTO t VALUES (?)", (n,))
        assert await asyncio.to_thread(started.wait, 5)  # it runs, and stays stuck
        for n in range(2, 6):  # two more come due while it is stuck: no writer waits
            async with asyncio.timeout(5), write_transaction(turn_engine) as conn:
                await conn.exec_driver_sql("INSERT INTO t VALUES (?)", (n,))
        assert not release.is_set()
        async with read_transaction(turn_engine) as conn:
            assert (await conn.exec_driver_sql("SELECT count(*) FROM t")).scalar_one() == 6
    finally:
        release.set()
        await turn_engine.dispose()
        await engine.dispose()

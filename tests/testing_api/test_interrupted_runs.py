"""Runs a dead worker left ``running`` are marked interrupted; a live worker's runs are not.

On SQLite and PostgreSQL (the root ``backend`` fixture).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import httpx
from alembic import command
from sqlalchemy import text, update

from pathweaver.config import Settings
from pathweaver.store.database import _alembic_config, make_engine, write_transaction
from pathweaver.store.schema import utcnow
from pathweaver.store.schema_testing import test_runs
from pathweaver.store.store import Store
from pathweaver.store.testing import INTERRUPTED, STALE_AFTER, TestingStore
from tests.conftest import Project

RESULT = {"name": "books", "status": "passed"}


async def _run(testing: TestingStore, project_id: str, *, heartbeat: datetime | None = None) -> str:
    run = await testing.create_run(project_id, None, pathway_version=1, agent_fingerprint="f", total=2)
    if heartbeat is not None:  # as if its worker last wrote at that moment
        async with write_transaction(testing.engine) as conn:
            await conn.execute(update(test_runs).where(test_runs.c.id == run.id).values(updated_at=heartbeat))
    return run.id


async def test_start_up_marks_only_runs_whose_worker_stopped(store: Store, project: Project) -> None:
    testing = TestingStore(store.engine)
    now = utcnow()
    abandoned = await _run(testing, project.id)
    await testing.save_results(abandoned, [RESULT])  # one case had finished when the worker died
    async with write_transaction(store.engine) as conn:
        await conn.execute(
            update(test_runs).where(test_runs.c.id == abandoned).values(updated_at=now - timedelta(hours=3))
        )
    live = await _run(testing, project.id, heartbeat=now - STALE_AFTER + timedelta(minutes=1))
    finished = await _run(testing, project.id)
    await testing.finish_run(finished, "passed", [RESULT])
    async with write_transaction(store.engine) as conn:
        await conn.execute(
            update(test_runs).where(test_runs.c.id == finished).values(updated_at=now - timedelta(days=2))
        )

    assert await testing.interrupt_stale_runs(now=now) == [abandoned]

    async with write_transaction(store.engine) as conn:  # straight from the table: no read-time marking
        rows = {row.id: row for row in (await conn.execute(test_runs.select())).all()}
    gone = rows[abandoned]
    assert (gone.status, gone.error, gone.results) == ("error", INTERRUPTED, [RESULT])
    assert gone.finished_at is not None and gone.finished_at >= now
    assert "start it again" in INTERRUPTED
    assert (rows[live].status, rows[live].error, rows[live].finished_at) == ("running", None, None)
    assert (rows[finished].status, rows[finished].error) == ("passed", None)
    assert await testing.interrupt_stale_runs(now=now) == []  # a second start: nothing left to mark


async def test_a_live_worker_keeps_its_run_alive_with_heartbeats(store: Store, project: Project) -> None:
    testing = TestingStore(store.engine, stale_after=timedelta(minutes=10))
    run_id = await _run(testing, project.id, heartbeat=utcnow() - timedelta(minutes=9))
    later = utcnow() + timedelta(minutes=5)
    await testing.touch_run(run_id)  # the worker running it is alive
    assert await testing.interrupt_stale_runs(now=later) == []
    await testing.save_results(run_id, [RESULT])  # a finished case is a heartbeat too
    assert await testing.interrupt_stale_runs(now=utcnow() + timedelta(minutes=9)) == []
    assert (await testing.get_run(project.id, run_id)).status == "running"


async def test_a_slow_run_taken_for_dead_comes_back_and_its_verdict_wins(
    store: Store, project: Project
) -> None:
    testing = TestingStore(store.engine)
    run_id = await _run(testing, project.id)
    assert await testing.interrupt_stale_runs(now=utcnow() + STALE_AFTER * 2) == [run_id]
    await testing.save_results(run_id, [RESULT])  # ... but its worker was alive, only slow
    back = await testing.get_run(project.id, run_id)
    assert (back.status, back.error, back.finished_at, back.results) == ("running", None, None, [RESULT])
    assert await testing.interrupt_stale_runs(now=utcnow() + STALE_AFTER * 2) == [run_id]
    await testing.finish_run(run_id, "passed", [RESULT, RESULT])
    done = await testing.get_run(project.id, run_id)
    assert (done.status, done.error) == ("passed", None)
    await testing.touch_run(run_id)  # a late heartbeat does not reopen a finished run
    assert (await testing.get_run(project.id, run_id)).status == "passed"


async def test_reading_an_abandoned_run_marks_it(store: Store, project: Project) -> None:
    """A crash shortly before a restart: the start-up sweep is too early for it, a read is not."""
    testing = TestingStore(store.engine)
    old = utcnow() - STALE_AFTER - timedelta(seconds=1)
    first = await _run(testing, project.id, heartbeat=old)
    second = await _run(testing, project.id, heartbeat=old)
    fresh = await _run(testing, project.id)
    run = await testing.get_run(project.id, first)
    assert (run.status, run.error) == ("error", INTERRUPTED) and run.finished_at is not None
    listed = {run.id: run for run in await testing.list_runs(project.id)}
    assert (listed[second].status, listed[second].error) == ("error", INTERRUPTED)
    assert listed[fresh].status == "running"
    assert await testing.interrupt_stale_runs() == []  # the reads stored the marks


async def test_the_api_shows_a_run_left_by_a_dead_worker_as_interrupted(
    client: httpx.AsyncClient, store: Store, project: Project
) -> None:
    testing = TestingStore(store.engine)
    run_id = await _run(testing, project.id, heartbeat=utcnow() - timedelta(hours=1))
    answer = await client.get(f"/v1/projects/{project.id}/test-runs/{run_id}", headers=project.auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()["data"]
    assert (body["status"], body["error"]) == ("error", INTERRUPTED) and body["finishedAt"] is not None


async def test_the_migration_gives_existing_runs_a_heartbeat(settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url(), schema=settings.database_schema)
    try:
        async with write_transaction(engine) as conn:
            if settings.database_schema:
                await conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{settings.database_schema}"')
            await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0005"))
            now = utcnow()
            project_id = f"proj_{secrets.token_hex(4)}"
            await conn.execute(
                text(
                    "INSERT INTO projects (id, name, pathway_version, created_at, updated_at) VALUES (:i, 'p', 1, :t, :t)"
                ),
                {"i": project_id, "t": now},
            )
            for run_id, finished in (("run_a", None), ("run_b", now + timedelta(minutes=3))):
                await conn.execute(
                    text(
                        "INSERT INTO test_runs (id, project_id, suite_id, status, pathway_version, "
                        "agent_fingerprint, total, results, error, created_at, finished_at) "
                        "VALUES (:i, :p, NULL, :s, 1, 'f', 1, '[]', NULL, :c, :f)"
                    ),
                    {
                        "i": run_id,
                        "p": project_id,
                        "s": "running" if finished is None else "passed",
                        "c": now,
                        "f": finished,
                    },
                )
        async with write_transaction(engine) as conn:
            await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))
        testing = TestingStore(engine)
        runs = {run.id: run for run in await testing.list_runs(project_id)}
        assert runs["run_a"].updated_at == runs["run_a"].created_at
        assert runs["run_b"].updated_at == runs["run_b"].finished_at
        assert await testing.interrupt_stale_runs(now=now + STALE_AFTER * 2) == ["run_a"]
    finally:
        if settings.database_schema:
            async with engine.begin() as conn:
                await conn.exec_driver_sql(f'DROP SCHEMA "{settings.database_schema}" CASCADE')
        await engine.dispose()

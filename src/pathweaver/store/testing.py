"""Test cases, suites and runs, stored per project.

Runs left behind. A run is executed by the worker process that started it (an asyncio
task); a graceful shutdown marks it ``error`` ("interrupted"), but a worker that is killed
leaves it ``running`` for ever. Runs carry no owner, and with several workers (or several
hosts on one PostgreSQL) a starting worker cannot tell a dead worker's run from a live
one's; so each run carries a heartbeat, ``updated_at``: every write by the worker running
it (start, each finished case, :meth:`TestingStore.touch_run`) moves it. A run still
``running`` whose heartbeat is older than ``stale_after`` (:data:`STALE_AFTER`) is taken
as abandoned: :meth:`TestingStore.interrupt_stale_runs` marks it ``error`` with
:data:`INTERRUPTED` (results of the cases that finished are kept). The app calls it at
start-up, and reading a run (:meth:`~TestingStore.get_run`, :meth:`~TestingStore.list_runs`)
does the same for the runs read, so a run abandoned by a crash shortly before a restart is
marked too, once its heartbeat is old enough, without waiting for the next start.

If the threshold is ever too short for a slow case, nothing is lost: the next heartbeat of
the live worker puts the run back to ``running``, and its verdict overwrites the mark.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pathweaver import keys
from pathweaver.errors import Conflict, NotFound
from pathweaver.store.database import read_transaction, write_transaction
from pathweaver.store.schema import utcnow
from pathweaver.store.schema_testing import test_cases, test_runs, test_suites

log = logging.getLogger("pathweaver.testing")

#: How long a ``running`` run may go without a heartbeat before it is taken as abandoned:
#: longer than one case should ever take (a long simulated case on a slow local model), as
#: the worker's heartbeat may come only when a case finishes.
STALE_AFTER = timedelta(minutes=30)
#: The error of a run whose worker stopped without finishing it.
INTERRUPTED = "interrupted: the server stopped while this run was in progress; start it again"


@dataclass(frozen=True, slots=True)
class StoredCase:
    id: str
    project_id: str
    name: str
    kind: str
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredSuite:
    id: str
    project_id: str
    name: str
    case_ids: list[str]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredRun:
    id: str
    project_id: str
    suite_id: str | None
    status: str
    pathway_version: int
    agent_fingerprint: str
    total: int
    results: list[dict[str, Any]]
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    #: The heartbeat: the last write by the worker running it.
    updated_at: datetime | None = None


class TestingStore:
    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, engine: AsyncEngine, *, stale_after: timedelta = STALE_AFTER):
        self.engine = engine
        self.stale_after = stale_after

    # Cases ------------------------------------------------------------------------------

    async def create_case(
        self, project_id: str, name: str, kind: str, definition: dict[str, Any]
    ) -> StoredCase:
        """Store a case; :class:`Conflict` when the project has a case of that name."""
        now = utcnow()
        case = StoredCase(keys.new_id("tc"), project_id, name, kind, definition, now, now)
        try:
            async with write_transaction(self.engine) as conn:
                await conn.execute(
                    insert(test_cases).values(
                        id=case.id,
                        project_id=project_id,
                        name=name,
                        kind=kind,
                        definition=definition,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise Conflict(
                f"the project already has a test case named {name!r}; choose another name"
            ) from None
        return case

    async def list_cases(self, project_id: str) -> list[StoredCase]:
        query = (
            select(test_cases).where(test_cases.c.project_id == project_id).order_by(test_cases.c.created_at)
        )
        async with read_transaction(self.engine) as conn:
            rows = (await conn.execute(query)).all()
        return [StoredCase(**row._mapping) for row in rows]

    async def get_case(self, project_id: str, case_id: str) -> StoredCase:
        query = select(test_cases).where(test_cases.c.project_id == project_id, test_cases.c.id == case_id)
        async with read_transaction(self.engine) as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"no test case {case_id!r} in this project")
        return StoredCase(**row._mapping)

    async def delete_case(self, project_id: str, case_id: str) -> None:
        """Delete a case, and take it out of every suite that lists it (one transaction)."""
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                delete(test_cases).where(test_cases.c.project_id == project_id, test_cases.c.id == case_id)
            )
            if not result.rowcount:
                raise NotFound(f"no test case {case_id!r} in this project")
            suites = (
                await conn.execute(
                    select(test_suites.c.id, test_suites.c.case_ids).where(
                        test_suites.c.project_id == project_id
                    )
                )
            ).all()
            for suite_id, case_ids in suites:
                if case_id in case_ids:
                    kept = [item for item in case_ids if item != case_id]
                    await conn.execute(
                        update(test_suites)
                        .where(test_suites.c.id == suite_id)
                        .values(case_ids=kept, updated_at=utcnow())
                    )

    # Suites -----------------------------------------------------------------------------

    async def create_suite(self, project_id: str, name: str, case_ids: list[str]) -> StoredSuite:
        """Store a suite; every case id must be a case of the project (else :class:`NotFound`)."""
        now = utcnow()
        suite = StoredSuite(keys.new_id("ts"), project_id, name, list(case_ids), now, now)
        async with write_transaction(self.engine) as conn:
            found = set(
                (
                    await conn.execute(
                        select(test_cases.c.id).where(
                            test_cases.c.project_id == project_id, test_cases.c.id.in_(case_ids)
                        )
                    )
                ).scalars()
            )
            missing = [case_id for case_id in case_ids if case_id not in found]
            if missing:
                raise NotFound(f"no test case {missing[0]!r} in this project; create it first")
            await conn.execute(
                insert(test_suites).values(
                    id=suite.id,
                    project_id=project_id,
                    name=name,
                    case_ids=suite.case_ids,
                    created_at=now,
                    updated_at=now,
                )
            )
        return suite

    async def list_suites(self, project_id: str) -> list[StoredSuite]:
        query = (
            select(test_suites)
            .where(test_suites.c.project_id == project_id)
            .order_by(test_suites.c.created_at)
        )
        async with read_transaction(self.engine) as conn:
            rows = (await conn.execute(query)).all()
        return [StoredSuite(**row._mapping) for row in rows]

    async def get_suite(self, project_id: str, suite_id: str) -> StoredSuite:
        query = select(test_suites).where(
            test_suites.c.project_id == project_id, test_suites.c.id == suite_id
        )
        async with read_transaction(self.engine) as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"no test suite {suite_id!r} in this project")
        return StoredSuite(**row._mapping)

    async def delete_suite(self, project_id: str, suite_id: str) -> None:
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                delete(test_suites).where(
                    test_suites.c.project_id == project_id, test_suites.c.id == suite_id
                )
            )
        if not result.rowcount:
            raise NotFound(f"no test suite {suite_id!r} in this project")

    # Runs -------------------------------------------------------------------------------

    async def create_run(
        self,
        project_id: str,
        suite_id: str | None,
        *,
        pathway_version: int,
        agent_fingerprint: str,
        total: int,
    ) -> StoredRun:
        now = utcnow()
        run = StoredRun(
            keys.new_id("run"),
            project_id,
            suite_id,
            "running",
            pathway_version,
            agent_fingerprint,
            total,
            [],
            None,
            now,
            None,
            now,
        )
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                insert(test_runs).values(
                    id=run.id,
                    project_id=project_id,
                    suite_id=suite_id,
                    status=run.status,
                    pathway_version=pathway_version,
                    agent_fingerprint=agent_fingerprint,
                    total=total,
                    results=[],
                    created_at=now,
                    updated_at=now,
                )
            )
        return run

    async def save_results(self, run_id: str, results: list[dict[str, Any]]) -> None:
        """Store the results so far of a running run (pollers see cases as they finish).

        A heartbeat too (see :meth:`touch_run`)."""
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(test_runs).where(test_runs.c.id == run_id).values(results=results, updated_at=utcnow())
            )
            await self._revive(conn, run_id)

    async def touch_run(self, run_id: str) -> None:
        """The heartbeat of a run in progress: its worker is alive.

        A run that :meth:`interrupt_stale_runs` took for abandoned goes back to ``running``
        (its worker was only slow); a finished run is left as it is."""
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(test_runs)
                .where(test_runs.c.id == run_id, test_runs.c.status == "running")
                .values(updated_at=utcnow())
            )
            await self._revive(conn, run_id)

    @staticmethod
    async def _revive(conn: AsyncConnection, run_id: str) -> None:
        await conn.execute(
            update(test_runs)
            .where(test_runs.c.id == run_id, test_runs.c.status == "error", test_runs.c.error == INTERRUPTED)
            .values(status="running", error=None, finished_at=None, updated_at=utcnow())
        )

    async def finish_run(
        self, run_id: str, status: str, results: list[dict[str, Any]], error: str | None = None
    ) -> None:
        """Store the verdict (it replaces an "interrupted" mark: the run did finish)."""
        now = utcnow()
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(test_runs)
                .where(test_runs.c.id == run_id)
                .values(status=status, results=results, error=error, finished_at=now, updated_at=now)
            )

    async def interrupt_stale_runs(
        self, *, run_ids: Sequence[str] | None = None, now: datetime | None = None
    ) -> list[str]:
        """Mark ``error`` (:data:`INTERRUPTED`) every run still ``running`` whose heartbeat is
        older than ``stale_after``: its worker stopped without finishing it. Safe with
        several workers: a live worker's run keeps a fresh heartbeat, and the check and the
        mark are one statement. ``run_ids`` limits it to those runs. The ids marked."""
        now = now or utcnow()
        cutoff = now - self.stale_after
        condition = and_(test_runs.c.status == "running", test_runs.c.updated_at < cutoff)
        if run_ids is not None:
            if not run_ids:
                return []
            condition = and_(condition, test_runs.c.id.in_(list(run_ids)))
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                update(test_runs)
                .where(condition)
                .values(status="error", error=INTERRUPTED, finished_at=now)
                .returning(test_runs.c.id)
            )
            marked = list(result.scalars())
        if marked:
            log.warning(
                "%d test run(s) had no heartbeat for %s and were marked interrupted: %s",
                len(marked),
                self.stale_after,
                ", ".join(marked),
            )
        return marked

    async def _fresh(self, runs: list[StoredRun]) -> list[StoredRun]:
        """``runs``, with those abandoned by a dead worker marked as interrupted."""
        cutoff = utcnow() - self.stale_after
        stale = [
            run.id
            for run in runs
            if run.status == "running" and run.updated_at is not None and run.updated_at < cutoff
        ]
        if not stale:
            return runs
        now = utcnow()
        marked = set(await self.interrupt_stale_runs(run_ids=stale, now=now))
        return [
            replace(run, status="error", error=INTERRUPTED, finished_at=now) if run.id in marked else run
            for run in runs
        ]

    async def get_run(self, project_id: str, run_id: str) -> StoredRun:
        query = select(test_runs).where(test_runs.c.project_id == project_id, test_runs.c.id == run_id)
        async with read_transaction(self.engine) as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"no test run {run_id!r} in this project")
        (run,) = await self._fresh([StoredRun(**row._mapping)])
        return run

    async def list_runs(
        self, project_id: str, suite_id: str | None = None, limit: int = 50
    ) -> list[StoredRun]:
        """The newest runs first (of one suite, when ``suite_id`` is given)."""
        query = select(test_runs).where(test_runs.c.project_id == project_id)
        if suite_id is not None:
            query = query.where(test_runs.c.suite_id == suite_id)
        query = query.order_by(test_runs.c.created_at.desc()).limit(limit)
        async with read_transaction(self.engine) as conn:
            rows = (await conn.execute(query)).all()
        return await self._fresh([StoredRun(**row._mapping) for row in rows])

    async def latest_finished_run(self, project_id: str, suite_id: str) -> StoredRun | None:
        query = (
            select(test_runs)
            .where(
                test_runs.c.project_id == project_id,
                test_runs.c.suite_id == suite_id,
                test_runs.c.finished_at.is_not(None),
            )
            .order_by(test_runs.c.finished_at.desc())
            .limit(1)
        )
        async with read_transaction(self.engine) as conn:
            row = (await conn.execute(query)).first()
        return StoredRun(**row._mapping) if row else None

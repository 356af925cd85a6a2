"""The durable side of the session lifecycle: end-of-session jobs and the webhook outbox.

A finalize job is inserted in the same transaction that ends a session (whatever ends it),
and only by the transaction that actually moved it from active to ended: two racing ends
produce one job. Deliveries are rows too, written before anything is sent, so they survive
a restart; every attempt is logged.

Claiming is portable: a row is taken with ``UPDATE ... WHERE status = <free> AND id = ?``
and counts as ours only when that update changed it, so two workers never run one row.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from pathweaver import keys
from pathweaver.store.database import AnyConnection, AnyEngine, read_transaction, write_transaction
from pathweaver.store.schema import (
    session_jobs,
    sessions,
    utcnow,
    webhook_attempts,
    webhook_deliveries,
    webhook_secrets,
    webhook_subscriptions,
)

JOB_LEASE = timedelta(minutes=5)
DELIVERY_LEASE = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    project_id: str
    url: str
    events: list[str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    project_id: str
    session_id: int | None
    event: str
    url: str
    headers: dict[str, str]
    payload: dict[str, Any]
    status: str
    at_most_once: bool
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    event: str
    url: str
    headers: dict[str, str]
    payload: dict[str, Any]
    at_most_once: bool = False


async def enqueue_finalize(conn: AnyConnection, session_pk: int) -> None:
    """Queue the end-of-session pipeline (call inside the transaction that ended the session)."""
    now = utcnow()
    await conn.execute(
        insert(session_jobs).values(
            session_id=session_pk,
            kind="finalize",
            status="pending",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
    )


async def insert_deliveries(
    conn: AnyConnection, project_id: str, session_pk: int | None, deliveries: list[NewDelivery]
) -> None:
    now = utcnow()
    for new in deliveries:
        exists = None
        if session_pk is not None:
            exists = (
                await conn.execute(
                    select(webhook_deliveries.c.id).where(
                        webhook_deliveries.c.session_id == session_pk,
                        webhook_deliveries.c.event == new.event,
                        webhook_deliveries.c.url == new.url,
                    )
                )
            ).first()
        if exists is None:
            await conn.execute(
                insert(webhook_deliveries).values(
                    project_id=project_id,
                    session_id=session_pk,
                    event=new.event,
                    url=new.url,
                    headers=new.headers,
                    payload=new.payload,
                    status="pending",
                    at_most_once=new.at_most_once,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )


def _delivery(row: Any) -> Delivery:
    m = row._mapping
    return Delivery(**{field: m[field] for field in Delivery.__dataclass_fields__})


#: A new session's first turn reads them (for ``session.started``): built once.
_SUBSCRIPTIONS = (
    select(webhook_subscriptions)
    .where(webhook_subscriptions.c.project_id == bindparam("p_project"))
    .order_by(webhook_subscriptions.c.created_at)
)


class LifecycleStore:
    def __init__(self, engine: AsyncEngine, turn_engine: AnyEngine | None = None):
        self.engine = engine
        #: For the subscriptions a new session's first turn reads (``database.make_turn_engine``).
        self.turn_engine = turn_engine or engine

    # Jobs -------------------------------------------------------------------------------

    async def claim_job(self, kind: str = "finalize") -> tuple[int, int] | None:
        """Take one pending (or abandoned) job: ``(job id, session pk)``, or None."""
        now = utcnow()
        free = and_(
            session_jobs.c.kind == kind,
            or_(
                session_jobs.c.status == "pending",
                and_(session_jobs.c.status == "running", session_jobs.c.lease_until < now),
            ),
        )
        async with read_transaction(self.engine) as conn:
            candidates = (
                await conn.execute(
                    select(session_jobs.c.id, session_jobs.c.session_id)
                    .where(free)
                    .order_by(session_jobs.c.id)
                    .limit(5)
                )
            ).all()
        for job_id, session_pk in candidates:
            async with write_transaction(self.engine) as conn:
                taken = await conn.execute(
                    update(session_jobs)
                    .where(session_jobs.c.id == job_id, free)
                    .values(
                        status="running",
                        lease_until=now + JOB_LEASE,
                        attempts=session_jobs.c.attempts + 1,
                        updated_at=now,
                    )
                )
            if taken.rowcount:
                return job_id, session_pk
        return None

    async def finish_job(
        self,
        job_id: int,
        *,
        error: str | None = None,
        extracted: dict[str, Any] | None = None,
        evaluation: Any = None,
        deliveries: list[NewDelivery] | None = None,
        project_id: str | None = None,
        session_pk: int | None = None,
    ) -> None:
        """Record the pipeline's results and queue its deliveries, in one transaction."""
        now = utcnow()
        async with write_transaction(self.engine) as conn:
            if session_pk is not None:
                values: dict[str, Any] = {}
                if extracted is not None:
                    values["extracted"] = extracted
                if evaluation is not None:
                    values["evaluation"] = evaluation
                if values:
                    await conn.execute(update(sessions).where(sessions.c.id == session_pk).values(**values))
            if deliveries and project_id is not None:
                await insert_deliveries(conn, project_id, session_pk, deliveries)
            await conn.execute(
                update(session_jobs)
                .where(session_jobs.c.id == job_id)
                .values(status="failed" if error else "done", error=error, lease_until=None, updated_at=now)
            )

    async def job_status(self, session_pk: int) -> str | None:
        async with read_transaction(self.engine) as conn:
            return (
                await conn.execute(
                    select(session_jobs.c.status).where(session_jobs.c.session_id == session_pk)
                )
            ).scalar()

    async def idle_sessions(self, older_than: datetime, limit: int = 50) -> list[tuple[str, str]]:
        """(project id, session id) of active sessions not updated since ``older_than``."""
        async with read_transaction(self.engine) as conn:
            rows = (
                await conn.execute(
                    select(sessions.c.project_id, sessions.c.external_id)
                    .where(sessions.c.status == "active", sessions.c.updated_at < older_than)
                    .limit(limit)
                )
            ).all()
        return [(r.project_id, r.external_id) for r in rows]

    # Subscriptions and the signing secret ---------------------------------------------

    async def subscribe(self, project_id: str, url: str, events: list[str]) -> Subscription:
        """Subscribe ``url``; subscribing an existing URL again replaces its events."""
        now = utcnow()
        async with write_transaction(self.engine) as conn:
            existing = (
                await conn.execute(
                    select(webhook_subscriptions).where(
                        webhook_subscriptions.c.project_id == project_id, webhook_subscriptions.c.url == url
                    )
                )
            ).first()
            if existing is not None:
                await conn.execute(
                    update(webhook_subscriptions)
                    .where(webhook_subscriptions.c.id == existing.id)
                    .values(events=events)
                )
                return Subscription(existing.id, project_id, url, events, existing.created_at)
            sub_id = keys.new_id("wh")
            await conn.execute(
                insert(webhook_subscriptions).values(
                    id=sub_id, project_id=project_id, url=url, events=events, created_at=now
                )
            )
        return Subscription(sub_id, project_id, url, events, now)

    async def subscriptions(self, project_id: str) -> list[Subscription]:
        async with read_transaction(self.turn_engine) as conn:
            rows = (await conn.execute(_SUBSCRIPTIONS, {"p_project": project_id})).all()
        return [Subscription(r.id, r.project_id, r.url, list(r.events), r.created_at) for r in rows]

    async def unsubscribe(self, project_id: str, subscription_id: str) -> bool:
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                delete(webhook_subscriptions).where(
                    webhook_subscriptions.c.project_id == project_id,
                    webhook_subscriptions.c.id == subscription_id,
                )
            )
        return bool(result.rowcount)

    async def secret(self, project_id: str, *, rotate: bool = False) -> str:
        """The project's webhook signing secret, created on first use."""
        async with write_transaction(self.engine) as conn:
            row = (
                await conn.execute(
                    select(webhook_secrets.c.secret).where(webhook_secrets.c.project_id == project_id)
                )
            ).first()
            if row is not None and not rotate:
                return str(row.secret)
            value = "whsec_" + secrets.token_urlsafe(32)
            if row is None:
                try:
                    await conn.execute(
                        insert(webhook_secrets).values(
                            project_id=project_id, secret=value, created_at=utcnow()
                        )
                    )
                except IntegrityError:  # pragma: no cover - serialised by the write transaction
                    raise
            else:
                await conn.execute(
                    update(webhook_secrets)
                    .where(webhook_secrets.c.project_id == project_id)
                    .values(secret=value)
                )
        return value

    # Deliveries -------------------------------------------------------------------------

    async def claim_deliveries(self, limit: int = 10, *, max_attempts: int | None = None) -> list[Delivery]:
        """Take due deliveries. A crashed send of an at-most-once event becomes ``unknown``;
        one that had used its ``max_attempts`` becomes ``failed`` instead of being taken again."""
        now = utcnow()
        async with write_transaction(self.engine) as conn:
            if max_attempts is not None:
                await conn.execute(
                    update(webhook_deliveries)
                    .where(
                        webhook_deliveries.c.status == "sending",
                        webhook_deliveries.c.lease_until < now,
                        webhook_deliveries.c.at_most_once.is_(False),
                        webhook_deliveries.c.attempts >= max_attempts,
                    )
                    .values(
                        status="failed",
                        lease_until=None,
                        last_error="the worker stopped while sending its last attempt; given up",
                    )
                )
            await conn.execute(
                update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.status == "sending",
                    webhook_deliveries.c.lease_until < now,
                    webhook_deliveries.c.at_most_once.is_(True),
                )
                .values(
                    status="unknown", last_error="the worker stopped while sending; not resent (at most once)"
                )
            )
        earlier = webhook_deliveries.alias("earlier")
        waits_for_earlier = (
            select(earlier.c.id)
            .where(
                earlier.c.session_id == webhook_deliveries.c.session_id,
                earlier.c.url == webhook_deliveries.c.url,
                earlier.c.id < webhook_deliveries.c.id,
                earlier.c.status.in_(("pending", "sending")),
            )
            .exists()
        )
        # Events reach each receiver in the order they happened: a delivery waits while an
        # earlier one of the same session to the same URL is still pending.
        free = and_(
            or_(
                and_(webhook_deliveries.c.status == "pending", webhook_deliveries.c.next_attempt_at <= now),
                and_(webhook_deliveries.c.status == "sending", webhook_deliveries.c.lease_until < now),
            ),
            ~waits_for_earlier,
        )
        async with read_transaction(self.engine) as conn:
            ids = (
                (
                    await conn.execute(
                        select(webhook_deliveries.c.id)
                        .where(free)
                        .order_by(webhook_deliveries.c.id)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
        taken: list[Delivery] = []
        for delivery_id in ids:
            async with write_transaction(self.engine) as conn:
                result = await conn.execute(
                    update(webhook_deliveries)
                    .where(webhook_deliveries.c.id == delivery_id, free)
                    .values(
                        status="sending",
                        lease_until=now + DELIVERY_LEASE,
                        attempts=webhook_deliveries.c.attempts + 1,
                    )
                )
                if result.rowcount:
                    row = (
                        await conn.execute(
                            select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
                        )
                    ).one()
                    taken.append(_delivery(row))
        return taken

    async def record_attempt(
        self,
        delivery: Delivery,
        *,
        status: str,
        status_code: int | None,
        latency_ms: int | None,
        error: str | None,
        retry_at: datetime | None = None,
    ) -> None:
        now = utcnow()
        values: dict[str, Any] = {"status": status, "last_error": error, "lease_until": None}
        if status == "delivered":
            values["delivered_at"] = now
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                insert(webhook_attempts).values(
                    delivery_id=delivery.id,
                    attempt=delivery.attempts,
                    status_code=status_code,
                    latency_ms=latency_ms,
                    error=error,
                    created_at=now,
                )
            )
            await conn.execute(
                update(webhook_deliveries).where(webhook_deliveries.c.id == delivery.id).values(**values)
            )

    async def deliveries(
        self, project_id: str, *, session_pk: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Recent deliveries with their attempts, newest first (the delivery log)."""
        query = select(webhook_deliveries).where(webhook_deliveries.c.project_id == project_id)
        if session_pk is not None:
            query = query.where(webhook_deliveries.c.session_id == session_pk)
        async with read_transaction(self.engine) as conn:
            rows = (await conn.execute(query.order_by(webhook_deliveries.c.id.desc()).limit(limit))).all()
            ids = [r.id for r in rows]
            attempts = (
                (
                    await conn.execute(
                        select(webhook_attempts)
                        .where(webhook_attempts.c.delivery_id.in_(ids))
                        .order_by(webhook_attempts.c.id)
                    )
                ).all()
                if ids
                else []
            )
        by_delivery: dict[int, list[dict[str, Any]]] = {}
        for a in attempts:
            by_delivery.setdefault(a.delivery_id, []).append(
                {
                    "attempt": a.attempt,
                    "statusCode": a.status_code,
                    "latencyMs": a.latency_ms,
                    "error": a.error,
                    "at": a.created_at,
                }
            )
        return [{"delivery": _delivery(r), "attempts": by_delivery.get(r.id, [])} for r in rows]

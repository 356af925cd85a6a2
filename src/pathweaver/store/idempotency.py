"""Idempotency keys (the IETF ``Idempotency-Key`` draft) for create-session and chat completions.

The first request with a key records it as ``running``; when it succeeds its response is
stored (``done``) and kept for ``DONE_TTL``. A retry with the same key and the same request
gets the stored response without running again; the same key with another request gets
422; a retry while the first is still running gets 409. A request that fails forgets its
key, so it can be retried. A ``running`` record whose worker died expires after
``running_ttl`` seconds and is taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from pathweaver.errors import Conflict, Unprocessable
from pathweaver.store.database import write_transaction
from pathweaver.store.schema import idempotency_keys, utcnow

DONE_TTL = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: Any
    headers: dict[str, str]


class IdempotencyStore:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def begin(
        self, project_id: str, scope: str, key: str, fingerprint: str, *, running_ttl: float
    ) -> StoredResponse | None:
        """Claim ``key``; None when this request should run, the stored response when it ran."""
        now = utcnow()
        where = (
            (idempotency_keys.c.project_id == project_id)
            & (idempotency_keys.c.scope == scope)
            & (idempotency_keys.c.key == key)
        )
        try:
            async with write_transaction(self.engine) as conn:
                row = (await conn.execute(select(idempotency_keys).where(where))).first()
                if row is None or row.expires_at <= now:
                    if row is not None:
                        await conn.execute(delete(idempotency_keys).where(where))
                    await conn.execute(
                        insert(idempotency_keys).values(
                            project_id=project_id,
                            scope=scope,
                            key=key,
                            fingerprint=fingerprint,
                            status="running",
                            created_at=now,
                            expires_at=now + timedelta(seconds=running_ttl),
                        )
                    )
                    return None
        except IntegrityError:
            raise Conflict(
                "a request with this Idempotency-Key is in progress; retry shortly", retry_after=1
            ) from None
        if row.fingerprint != fingerprint:
            raise Unprocessable(
                "this Idempotency-Key was used for a different request; use a new key for a new request"
            )
        if row.status == "running":
            raise Conflict("a request with this Idempotency-Key is in progress; retry shortly", retry_after=1)
        return StoredResponse(row.status_code, row.response, dict(row.headers or {}))

    async def finish(self, project_id: str, scope: str, key: str, response: StoredResponse) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(idempotency_keys)
                .where(
                    idempotency_keys.c.project_id == project_id,
                    idempotency_keys.c.scope == scope,
                    idempotency_keys.c.key == key,
                )
                .values(
                    status="done",
                    status_code=response.status_code,
                    response=response.body,
                    headers=response.headers,
                    expires_at=utcnow() + DONE_TTL,
                )
            )

    async def forget(self, project_id: str, scope: str, key: str) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.project_id == project_id,
                    idempotency_keys.c.scope == scope,
                    idempotency_keys.c.key == key,
                    idempotency_keys.c.status == "running",
                )
            )

"""The ``Idempotency-Key`` header on create-session and chat completions (HTTP side).

The key is scoped to the project and the route. The request's fingerprint is the SHA-256
of its raw body and its ``X-Session-ID``, so a retry of the same bytes matches and anything
else with the same key is 422. See ``store/idempotency.py`` for the life of a key.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import Request

from pathweaver.errors import UserError
from pathweaver.store.idempotency import StoredResponse
from pathweaver.store.store import Store

HEADER = "idempotency-key"


@dataclass
class Claim:
    """A claimed key: call :meth:`finish` with the response, or leave to forget the key."""

    store: Store
    project_id: str
    scope: str
    key: str
    done: bool = False

    async def finish(self, status_code: int, body: Any, headers: dict[str, str]) -> None:
        with anyio.CancelScope(shield=True):
            await self.store.idempotency.finish(
                self.project_id, self.scope, self.key, StoredResponse(status_code, body, headers)
            )
        self.done = True

    async def forget(self) -> None:
        if not self.done:
            with anyio.CancelScope(shield=True):
                await self.store.idempotency.forget(self.project_id, self.scope, self.key)


async def claim(
    request: Request, project_id: str, scope: str, *, running_ttl: float
) -> tuple[Claim | None, StoredResponse | None]:
    """(claim, None) to run the request; (None, stored) to answer a repeat; (None, None) without a key."""
    key = request.headers.get(HEADER)
    if key is None:
        return None, None
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise UserError("Idempotency-Key must be 1 to 255 printable characters")
    body = await request.body()
    digest = hashlib.sha256(body + b"\0" + request.headers.get("x-session-id", "").encode()).hexdigest()
    store: Store = request.app.state.store
    stored = await store.idempotency.begin(project_id, scope, key, digest, running_ttl=running_ttl)
    if stored is not None:
        return None, stored
    return Claim(store, project_id, scope, key), None


@contextlib.asynccontextmanager
async def forgotten_on_error(claim_: Claim | None) -> AsyncIterator[None]:
    """Forget the key if the block fails (so the request can be retried)."""
    try:
        yield
    except BaseException:
        if claim_ is not None:
            await claim_.forget()
        raise
